using System.Globalization;
using System.Reflection;
using System.Text;
using M2M.Ingest.Alip;
using M2M.Storage.TimeSeries;

namespace M2M.Ingest.Sessions;

internal sealed partial class AlipSession
{
    private const int DefaultLastRecords = 5;
    private const int MaxLastRecords = 100;

    private static readonly string Version =
        typeof(AlipSession).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

    /// <summary>
    /// Diagnostics (only when <see cref="IngestOptions.Diagnostics"/> is on):
    /// <code>
    /// DB-content = "ID" / "SOURCE" / "CONNECTED" / "VERSION" / "LAST" [ SP n ]
    /// </code>
    /// <c>DB LAST</c> lists the device's newest records: <c>BEGIN LAST</c>, one
    /// <c>&lt;ISO time&gt; &lt;type&gt; &lt;data&gt;</c> line each, <c>END</c>.
    /// </summary>
    private async ValueTask OnDiagnosticsAsync(ReadOnlyMemory<byte> content)
    {
        var rest = content;
        TryTakeToken(ref rest, out var sub);
        var s = sub.Span;
        if (s.SequenceEqual("ID"u8))
        {
            AlipWriter.WriteDiagnostic(Output, "ID", DeviceId.ToString("D"));
        }
        else if (s.SequenceEqual("SOURCE"u8))
        {
            AlipWriter.WriteDiagnostic(Output, "SOURCE", $"{RemoteAddress} {ConnectionId}");
        }
        else if (s.SequenceEqual("CONNECTED"u8))
        {
            AlipWriter.WriteDiagnostic(Output, "CONNECTED", (long)(Services.Time.GetUtcNow() - ConnectedAt).TotalSeconds);
        }
        else if (s.SequenceEqual("VERSION"u8))
        {
            AlipWriter.WriteDiagnostic(Output, "VERSION", Version);
        }
        else if (s.SequenceEqual("LAST"u8))
        {
            var n = DefaultLastRecords;
            if (!rest.IsEmpty)
            {
                if (!TryParseNonNegative(rest.Span, out var requested) || requested == 0)
                {
                    Error("Invalid number");
                    return;
                }
                n = (int)Math.Min(requested, MaxLastRecords);
            }
            await WriteLastAsync(n);
            return;
        }
        else
        {
            CountError("invalid_diagnostics_command");
            Error("Invalid diagnostics command");
            return;
        }
        CountOut();
    }

    private async ValueTask WriteLastAsync(int n)
    {
        if (Services.TimeSeries is null)
        {
            Error("No time series in this process");
            return;
        }
        var page = await Services.TimeSeries.QueryAsync(new TimeSeriesQuery(RecordId, Descending: true, Limit: n), Closing);
        AlipWriter.WriteBeginLast(Output);
        foreach (var record in page.Items)
        {
            var line = string.Create(CultureInfo.InvariantCulture, $"{record.Time.UtcDateTime:yyyy-MM-ddTHH:mm:ss.fffffffZ} {record.Type} {OneLine(record.Data)}");
            AlipWriter.WriteLine(Output, Encoding.UTF8.GetBytes(line));
        }
        AlipWriter.WriteEnd(Output);
        CountOut();
    }
}
