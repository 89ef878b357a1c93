using System.Text;
using System.Text.Json;

namespace M2M.Cli;

/// <summary>
/// Device import from CSV (RFC 4180: commas, double quotes around fields that hold commas, quotes or
/// line breaks, <c>""</c> for a quote). The header names the columns: <c>ident</c> (required),
/// <c>display_name</c>, <c>domain</c>, <c>secret</c>; unknown columns are refused. Each data line becomes one
/// <c>POST /api/devices</c>, and one report line: <c>line N: created &lt;ident&gt; &lt;id&gt;</c>, followed by
/// <c> secret &lt;secret&gt;</c> when the line gave none and the server generated one (its only
/// appearance: the device needs it to identify), or <c>line N: error &lt;ident&gt;: &lt;reason&gt;</c>.
/// Lines are independent: one failure stops nothing.
/// </summary>
internal static class DeviceImport
{
    private static readonly string[] Known = ["ident", "display_name", "domain", "secret"];

    /// <summary>Imports the file; returns the number of failed lines.</summary>
    public static async Task<int> RunAsync(ServerClient client, string path, string? defaultDomain, TextWriter report, CancellationToken cancellationToken)
    {
        using var reader = new StreamReader(path, Encoding.UTF8);
        var line = 0;
        var header = await ReadRecordAsync(reader, () => line++, cancellationToken) ?? throw new CliException($"{path} is empty: it needs a header line (ident,display_name,domain,secret).");
        var columns = header.Select(h => h.Trim().ToLowerInvariant()).ToList();
        if (columns.FirstOrDefault(c => !Known.Contains(c)) is { } unknown)
        {
            throw new CliException($"Line 1: unknown column '{unknown}' (known: {string.Join(", ", Known)}).");
        }
        var identColumn = columns.IndexOf("ident");
        if (identColumn < 0)
        {
            throw new CliException("Line 1: the header has no 'ident' column.");
        }
        int displayColumn = columns.IndexOf("display_name"), domainColumn = columns.IndexOf("domain"), secretColumn = columns.IndexOf("secret");
        var failed = 0;
        var created = 0;
        while (true)
        {
            var start = line + 1;
            List<string>? fields;
            try
            {
                fields = await ReadRecordAsync(reader, () => line++, cancellationToken);
            }
            catch (FormatException e)
            {
                await report.WriteLineAsync($"line {start}: error: {e.Message}");
                failed++;
                break;
            }
            if (fields is null)
            {
                break;
            }
            if (fields.Count == 1 && fields[0].Length == 0)
            {
                continue;
            }
            if (fields.Count != columns.Count)
            {
                await report.WriteLineAsync($"line {start}: error: {fields.Count} fields, the header has {columns.Count}");
                failed++;
                continue;
            }
            var ident = fields[identColumn];
            var displayName = displayColumn >= 0 && fields[displayColumn].Length > 0 ? fields[displayColumn] : null;
            var domain = domainColumn >= 0 && fields[domainColumn].Length > 0 ? fields[domainColumn] : defaultDomain;
            var secret = secretColumn >= 0 && fields[secretColumn].Length > 0 ? fields[secretColumn] : null;
            try
            {
                var device = await client.PostAsync("/api/devices", new { ident, displayName, domain, secret }, cancellationToken);
                // A device created through the API has credentials: without a secret in the file the
                // server generated one, shown in this answer only.
                var generated = device.TryGetProperty("secret", out var value) && value.ValueKind == JsonValueKind.String ? $" secret {value.GetString()}" : "";
                await report.WriteLineAsync($"line {start}: created {ident} {device.GetProperty("id").GetString()}{generated}");
                created++;
            }
            catch (CliException e)
            {
                await report.WriteLineAsync($"line {start}: error {ident}: {e.Message}");
                failed++;
            }
        }
        await report.WriteLineAsync($"{created} created, {failed} failed");
        return failed;
    }

    /// <summary>One CSV record (which may span lines inside quotes), or <c>null</c> at the end.</summary>
    private static async Task<List<string>?> ReadRecordAsync(StreamReader reader, Action countLine, CancellationToken cancellationToken)
    {
        var text = await reader.ReadLineAsync(cancellationToken);
        if (text is null)
        {
            return null;
        }
        countLine();
        var fields = new List<string>();
        var field = new StringBuilder();
        var quoted = false;
        var i = 0;
        while (true)
        {
            if (i == text.Length)
            {
                if (!quoted)
                {
                    break;
                }
                // A quoted field goes on on the next line.
                var next = await reader.ReadLineAsync(cancellationToken) ?? throw new FormatException("a quoted field is not closed before the end of the file");
                countLine();
                field.Append('\n');
                text = next;
                i = 0;
                continue;
            }
            var ch = text[i++];
            if (quoted)
            {
                if (ch == '"')
                {
                    if (i < text.Length && text[i] == '"')
                    {
                        field.Append('"');
                        i++;
                    }
                    else
                    {
                        quoted = false;
                    }
                }
                else
                {
                    field.Append(ch);
                }
            }
            else if (ch == ',')
            {
                fields.Add(field.ToString());
                field.Clear();
            }
            else if (ch == '"' && field.Length == 0)
            {
                quoted = true;
            }
            else
            {
                field.Append(ch);
            }
        }
        fields.Add(field.ToString());
        return fields;
    }
}
