using System.Net;
using System.Text;
using M2M.Load.Protocol;

namespace M2M.Load.Simulation;

/// <summary>
/// A device speaking ALIP: <c>E &lt;time&gt; L …</c> locations, <c>E &lt;time&gt; T …</c>
/// temperatures, <c>A n</c> barriers; answers <c>S S</c>, <c>S GA</c>, <c>C n</c> and <c>A n</c>.
/// </summary>
public sealed class AlipDevice(string ident, int index, DevicePlan plan) : SimulatedDevice(ident, index, plan)
{
    protected override IPEndPoint EndPoint => Plan.AlipEndPoint;

    protected override int WriteIdent(Span<byte> destination) => AlipClient.WriteIdent(destination, Login);

    protected override int MaxRecordBytes(in DeviceRecord record) => record.Kind switch
    {
        RecordKind.Location => 96,
        RecordKind.Temperature => 48,
        _ => 64 + Encoding.UTF8.GetMaxByteCount(record.Line!.Type.Length + record.Line.Content.Length),
    };

    protected override int WriteRecord(Session session, Span<byte> destination, in DeviceRecord record) => record.Kind switch
    {
        RecordKind.Location => AlipClient.WriteLocation(destination, record.Time, record.Latitude, record.Longitude, record.Speed, record.Altitude),
        RecordKind.Temperature => AlipClient.WriteTemperature(destination, record.Time, record.Value),
        // The ALIP type L stores sen:loc from "lat,lon,…"; any other type is stored under its own name.
        _ => AlipClient.WriteTimed(destination, record.Time, record.Line!.Type == "sen:loc" ? "L" : record.Line.Type, record.Line.Content),
    };

    protected override int WriteBarrier(Span<byte> destination, long token) => AlipClient.WriteBarrier(destination, token);

    protected override bool TryProcess(Session session, ReadOnlySpan<byte> buffer, out int consumed)
    {
        if (!AlipClient.TryReadLine(buffer, out var text, out consumed))
        {
            return false;
        }
        var line = AlipClient.Parse(text);
        switch (line.Kind)
        {
            case AlipServerLineKind.Identification:
                var accepted = line.First.SequenceEqual("1"u8);
                if (!accepted)
                {
                    session.ErrorText = $"server answered ID {AlipClient.Text(line.First)}";
                }
                session.Identification.TrySetResult(accepted);
                break;
            case AlipServerLineKind.BarrierAnswer:
                if (!AlipClient.TryParseToken(line.First, out var token) || !Acknowledge(session, token, -1))
                {
                    Plan.Counters.ProtocolError($"{Ident}: answer B {AlipClient.Text(line.First)} to no barrier in flight");
                }
                break;
            case AlipServerLineKind.ServerPing:
                Plan.Counters.ServerPinged();
                session.Replies.Advance(AlipClient.WritePingAnswer(session.Replies.GetSpan(line.First.Length + 3), line.First));
                break;
            case AlipServerLineKind.SetSetting:
                var name = AlipClient.Text(line.First);
                var value = AlipClient.Text(line.Second);
                lock (Settings)
                {
                    Settings[name] = value;
                }
                WriteSetting(session, acknowledge: true, name, value);
                Plan.Counters.SettingAcked(1);
                break;
            case AlipServerLineKind.ReportAllSettings:
                KeyValuePair<string, string>[] all;
                lock (Settings)
                {
                    all = [.. Settings];
                }
                foreach (var (n, v) in all)
                {
                    WriteSetting(session, acknowledge: false, n, v);
                }
                break;
            case AlipServerLineKind.Command:
                Plan.CommandReceived?.Invoke(AlipClient.Text(line.Second), System.Diagnostics.Stopwatch.GetTimestamp());
                lock (AcknowledgedCommands)
                {
                    AcknowledgedCommands.Add(AlipClient.Text(line.First));
                }
                session.Replies.Advance(AlipClient.WriteCommandAck(session.Replies.GetSpan(line.First.Length + 5), line.First));
                Plan.Counters.CommandAcked();
                break;
            case AlipServerLineKind.Error:
                var reason = AlipClient.Text(line.First);
                if (!session.Identification.Task.IsCompleted)
                {
                    session.ErrorText = $"ERR {reason}";
                    session.Identification.TrySetResult(false);
                }
                else
                {
                    Plan.Counters.ServerError($"{Ident}: ERR {reason}");
                }
                break;
            case AlipServerLineKind.Quit:
                session.ErrorText = $"QUIT {AlipClient.Text(line.First)}";
                break;
        }
        return true;
    }

    private static void WriteSetting(Session session, bool acknowledge, string name, string value)
    {
        var span = session.Replies.GetSpan(Encoding.UTF8.GetMaxByteCount(name.Length + value.Length) + 8);
        session.Replies.Advance(AlipClient.WriteSetting(span, acknowledge, name, value));
    }
}
