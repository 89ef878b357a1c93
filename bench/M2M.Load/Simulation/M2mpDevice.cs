using System.Globalization;
using System.Net;
using System.Text;
using M2M.Load.Protocol;

namespace M2M.Load.Simulation;

/// <summary>
/// A device speaking M2MP. Its channels: 0 <c>sen:loc</c> (binary location with time), 1
/// <c>sen:temp</c> (array <c>[u32 time, value]</c>), 2 <c>_set</c>, 3 <c>_sta</c>, 4 <c>_cmd</c>;
/// replayed types get the next ids as they appear.
/// </summary>
public sealed class M2mpDevice(string ident, int index, DevicePlan plan) : SimulatedDevice(ident, index, plan)
{
    private const byte LocationChannel = 0;
    private const byte TemperatureChannel = 1;
    private const byte SettingsChannel = 2;
    private const byte StatusChannel = 3;
    private const byte CommandsChannel = 4;
    private const int FirstFreeChannel = 5;

    protected override IPEndPoint EndPoint => Plan.M2mpEndPoint;

    protected override int WriteIdent(Span<byte> destination) => M2mpClient.WriteIdent(destination, Login);

    protected override int WriteSessionStart(Session session, Span<byte> destination)
    {
        session.DeviceChannels = null;
        session.NextDeviceChannel = FirstFreeChannel;
        var pos = M2mpClient.WriteChannelDefinition(destination, LocationChannel, "sen:loc");
        pos += M2mpClient.WriteChannelDefinition(destination[pos..], TemperatureChannel, "sen:temp");
        pos += M2mpClient.WriteChannelDefinition(destination[pos..], SettingsChannel, "_set");
        pos += M2mpClient.WriteChannelDefinition(destination[pos..], StatusChannel, "_sta");
        pos += M2mpClient.WriteChannelDefinition(destination[pos..], CommandsChannel, "_cmd");
        return pos;
    }

    protected override int MaxRecordBytes(in DeviceRecord record) => record.Kind switch
    {
        RecordKind.Location => M2mpClient.LocationFrameSize,
        RecordKind.Temperature => 24,
        _ => 300 + Encoding.UTF8.GetMaxByteCount(record.Line!.Content.Length),
    };

    protected override int WriteRecord(Session session, Span<byte> destination, in DeviceRecord record)
    {
        switch (record.Kind)
        {
            case RecordKind.Location:
                return M2mpClient.WriteLocation(destination, LocationChannel, record.Time, record.Latitude, record.Longitude, record.Speed, record.Altitude);
            case RecordKind.Temperature:
                Span<byte> text = stackalloc byte[16];
                record.Value.TryFormat(text, out var n, "0.0", CultureInfo.InvariantCulture);
                return M2mpClient.WriteTimedValue(destination, TemperatureChannel, record.Time, text[..n]);
            default:
                return WriteReplay(session, destination, record);
        }
    }

    // sen:loc with "lat,lon[,spd[,alt]]" → binary location; other sen:* → [time, content]; anything
    // else → a data frame (the server stamps it on arrival).
    private static int WriteReplay(Session session, Span<byte> destination, in DeviceRecord record)
    {
        var line = record.Line!;
        var pos = 0;
        var channels = session.DeviceChannels ??= new Dictionary<string, byte>(StringComparer.Ordinal);
        if (!channels.TryGetValue(line.Type, out var channel))
        {
            if (session.NextDeviceChannel > byte.MaxValue)
            {
                // Out of ids: start again after the fixed channels, redefining (spec: ids wrap).
                session.NextDeviceChannel = FirstFreeChannel;
                foreach (var (name, id) in channels.ToArray())
                {
                    if (id == FirstFreeChannel)
                    {
                        channels.Remove(name);
                    }
                }
            }
            channel = (byte)session.NextDeviceChannel++;
            channels[line.Type] = channel;
            pos += M2mpClient.WriteChannelDefinition(destination, channel, line.Type);
        }

        if (line.Type == "sen:loc" && TryParseLocation(line.Content, out var lat, out var lon, out var speed, out var altitude))
        {
            return pos + M2mpClient.WriteLocation(destination[pos..], channel, record.Time, lat, lon, speed, altitude);
        }
        var content = Encoding.UTF8.GetBytes(line.Content);
        if (line.Type.StartsWith("sen:", StringComparison.Ordinal))
        {
            return pos + M2mpClient.WriteTimedValue(destination[pos..], channel, record.Time, content);
        }
        return pos + M2mpClient.WriteData(destination[pos..], channel, content);
    }

    /// <summary><c>lat,lon[,spd[,alt]]</c></summary>
    public static bool TryParseLocation(string content, out float lat, out float lon, out ushort speed, out ushort altitude)
    {
        lat = lon = 0;
        speed = altitude = 0;
        var parts = content.Split(',');
        return parts.Length is >= 2 and <= 4
            && float.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out lat)
            && float.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out lon)
            && (parts.Length < 3 || ushort.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out speed))
            && (parts.Length < 4 || ushort.TryParse(parts[3], NumberStyles.None, CultureInfo.InvariantCulture, out altitude));
    }

    protected override int WriteBarrier(Span<byte> destination, long token) =>
        M2mpClient.WriteControl(destination, M2mpClient.Ping, (byte)token);

    protected override bool TryProcess(Session session, ReadOnlySpan<byte> buffer, out int consumed)
    {
        if (!M2mpClient.TryRead(buffer, out var frame, out consumed))
        {
            return false;
        }
        switch (frame.Type)
        {
            case M2mpClient.Ident:
                if (frame.Channel != 1)
                {
                    session.ErrorText = "server answered 01 00";
                }
                session.Identification.TrySetResult(frame.Channel == 1);
                break;
            case M2mpClient.Ping:
                if (!Acknowledge(session, frame.Channel, 0xFF))
                {
                    Plan.Counters.ProtocolError($"{Ident}: answer 02 {frame.Channel} to no ping in flight");
                }
                break;
            case M2mpClient.ServerPing:
                Plan.Counters.ServerPinged();
                var answer = session.Replies.GetSpan(2);
                session.Replies.Advance(M2mpClient.WriteControl(answer, M2mpClient.ServerPing, frame.Channel));
                break;
            case M2mpClient.ChannelDefinition:
                (session.ServerChannels ??= new string?[256])[frame.Channel] = Encoding.ASCII.GetString(frame.Payload);
                break;
            default:
                if (frame.IsArray)
                {
                    var name = session.ServerChannels?[frame.Channel] ?? $"__channel_{frame.Channel}";
                    OnArray(session, name, M2mpClient.ReadItems(frame.Payload, frame.Width));
                }
                // Data frames (echo answers) and unknown sized frames need nothing from a device.
                break;
        }
        return true;
    }

    private void OnArray(Session session, string channel, List<string> items)
    {
        if (items.Count == 0)
        {
            return;
        }
        var first = items[0];
        switch (channel)
        {
            case "_set":
                OnSettings(session, first, items);
                break;
            case "_sta" when first.Contains('g', StringComparison.Ordinal):
                var status = new List<string> { "g" };
                foreach (var name in items.Skip(1))
                {
                    var key = name.Split('=', 2)[0];
                    if (Status.TryGetValue(key, out var value))
                    {
                        status.Add($"{key}={value}");
                    }
                }
                Reply(session, StatusChannel, status);
                Plan.Counters.StatusSent();
                break;
            case "_cmd" when first.Contains('e', StringComparison.Ordinal) && items.Count >= 2:
                Plan.CommandReceived?.Invoke(string.Join('\n', items.Skip(2)), System.Diagnostics.Stopwatch.GetTimestamp());
                lock (AcknowledgedCommands)
                {
                    AcknowledgedCommands.Add(items[1]);
                }
                Reply(session, CommandsChannel, ["a", items[1], "ok"]);
                Plan.Counters.CommandAcked();
                break;
        }
    }

    // The server's first item: s = set, g = report back, sg = set and report back, ga = report everything.
    private void OnSettings(Session session, string first, List<string> items)
    {
        var answer = new List<string> { "g" };
        if (first == "ga")
        {
            lock (Settings)
            {
                answer.AddRange(Settings.Select(p => $"{p.Key}={p.Value}"));
            }
            Reply(session, SettingsChannel, answer);
            return;
        }
        var set = first.Contains('s', StringComparison.Ordinal);
        var report = first.Contains('g', StringComparison.Ordinal);
        lock (Settings)
        {
            foreach (var item in items.Skip(1))
            {
                var eq = item.IndexOf('=', StringComparison.Ordinal);
                var name = eq < 0 ? item : item[..eq];
                if (set && eq > 0)
                {
                    Settings[name] = item[(eq + 1)..];
                }
                if (report && Settings.TryGetValue(name, out var value))
                {
                    answer.Add($"{name}={value}");
                }
            }
        }
        if (report && answer.Count > 1)
        {
            Reply(session, SettingsChannel, answer);
            Plan.Counters.SettingAcked(answer.Count - 1);
        }
    }

    private static void Reply(Session session, byte channel, List<string> items)
    {
        var span = session.Replies.GetSpan(M2mpClient.ArrayFrameLength(items));
        session.Replies.Advance(M2mpClient.WriteArray(span, channel, items));
    }
}
