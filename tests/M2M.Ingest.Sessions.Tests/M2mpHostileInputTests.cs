using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics.Metrics;
using System.Text;
using M2M.Ingest.M2mp;
using M2M.Storage.Entities;

namespace M2M.Ingest.Sessions.Tests;

/// <summary>
/// Hostile bytes in every field of the M2MP frames a device sends (issue 10, point 6): an invalid
/// value is dropped and counted, a valid one is applied, and the connection stays open (only a
/// framing violation closes it) — after each value the device's ping is answered.
/// </summary>
[Collection(SharedServerCollection.Name)]
public sealed class M2mpHostileInputTests(SharedServer shared)
{
    private DeviceServer Server => shared.Server;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A hostile value; <see cref="Printable"/> is <c>false</c> for control characters and invalid UTF-8.</summary>
    public sealed record Hostile(string Name, byte[] Bytes, bool Printable)
    {
        public string Text => Encoding.UTF8.GetString(Bytes);

        public override string ToString() => Name;
    }

    private static Hostile Bad(string name, params byte[] bytes) => new(name, bytes, false);

    private static Hostile Good(string name, string text) => new(name, Encoding.UTF8.GetBytes(text), true);

    public static readonly Hostile[] Values =
    [
        Bad("NUL", 0x61, 0x00, 0x62),
        Bad("SOH", 0x01),
        Bad("LF", 0x61, 0x0A, 0x62),
        Bad("CR", 0x61, 0x0D, 0x62),
        Bad("TAB", 0x61, 0x09, 0x62),
        Bad("DEL", 0x61, 0x7F, 0x62),
        Bad("C1 control", 0x61, 0xC2, 0x85, 0x62),
        Bad("byte FF", 0x61, 0xFF, 0x62),
        Bad("lone continuation byte", 0x80),
        Bad("cut sequence", 0x61, 0xC3),
        Bad("overlong slash", 0xC0, 0xAF),
        Bad("UTF-16 surrogate", 0xED, 0xA0, 0x80),
        Good("empty", ""),
        Good("space", "a b"),
        Good("equals", "a=b"),
        Good("quote and backslash", "\"\\"),
        Good("path-like", "../%2F/x"),
        Good("reserved", "_server"),
        Good("254 bytes", new string('x', 254)),
        Good("300 bytes", new string('x', 300)),
        Good("70 KiB", new string('x', 70 * 1024)),
        Good("600 KiB of quotes", new string('"', 600 * 1024)),
    ];

    /// <summary>
    /// One field: how to send a value (value, its index, the device id), whether the value must be
    /// applied (<c>null</c>: the value cannot be put in this field), and how to see that it was.
    /// </summary>
    public sealed record Field(
        Func<M2mpDevice, Hostile, int, IReadOnlyList<string>, Task> Send,
        Func<Hostile, bool?> Applied,
        Func<DeviceServer, Guid, Hostile, int, Task<bool>> IsApplied,
        int Commands = 0,
        bool Settings = false);

    private static bool IsSettingName(Hostile v) =>
        v.Printable && v.Bytes.Length is > 0 and <= 256 && !v.Text.Any(c => c is ' ' or '='); // no whitespace, control or '='

    private static bool IsRecordType(Hostile v) => v.Printable && v.Bytes.Length is > 0 and <= 200 && v.Bytes[0] != (byte)'_';

    private static bool FitsRecord(Hostile v) => !v.Name.Contains("quotes", StringComparison.Ordinal);

    /// <summary>Whether a record of <paramref name="type"/> was stored (compared in memory: a hostile type cannot be queried).</summary>
    private static async Task<bool> HasRecordAsync(DeviceServer server, Guid id, string type, string? data = null) =>
        (await server.RecordsAsync(id)).Any(r => r.Type == type && (data is null || r.Data == data));

    private static ReadOnlyMemory<byte>[] Items(params byte[][] items) => [.. items.Select(i => new ReadOnlyMemory<byte>(i))];

    private static byte[] Time(uint seconds)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, seconds);
        return bytes;
    }

    /// <summary>A channel definition with raw name bytes (ids from 100 up: clear of the device helper's own).</summary>
    private static byte[] Define(byte id, byte[] name) => [0x20, (byte)(name.Length + 1), id, .. name];

    public static readonly Dictionary<string, Field> Fields = new()
    {
        ["data channel name"] = new(
            (d, v, i, _) => d.SendAsync(o =>
            {
                o.Write(Define((byte)(100 + i), v.Bytes));
                M2mpWriter.WriteData(o, (byte)(100 + i), "1"u8);
            }),
            v => v.Bytes.Length > 254 ? null : IsRecordType(v),
            (s, id, v, _) => HasRecordAsync(s, id, v.Text, "\"1\"")),
        ["array channel name"] = new(
            (d, v, i, _) => d.SendAsync(o =>
            {
                o.Write(Define((byte)(130 + i), v.Bytes));
                M2mpWriter.WriteArray(o, (byte)(130 + i), ["1"]);
            }),
            v => v.Bytes.Length > 254 ? null : IsRecordType(v),
            (s, id, v, _) => HasRecordAsync(s, id, v.Text, "[\"1\"]")),
        ["_set verb"] = new(
            (d, v, i, _) => d.SendArrayAsync("_set", Items(v.Bytes, Encoding.ASCII.GetBytes($"v{i}=1"))),
            _ => false,
            async (s, id, _, i) => (await s.Devices.GetSettingsAsync(id, Ct)).Any(x => x.Name == $"v{i}")),
        ["_set g name"] = new(
            (d, v, _, _) => d.SendArrayAsync("_set", Items("g"u8.ToArray(), [.. v.Bytes, .. "=1"u8])),
            v => v.Name == "equals" ? null : IsSettingName(v), // "a=b=1" is the setting a = "b=1"
            async (s, id, v, _) => (await s.Devices.GetSettingsAsync(id, Ct)).Any(x => x.Name == v.Text)),
        ["_set g value"] = new(
            (d, v, i, _) => d.SendArrayAsync("_set", Items("g"u8.ToArray(), [.. Encoding.ASCII.GetBytes($"n{i}="), .. v.Bytes])),
            v => v.Printable && v.Bytes.Length <= 64 * 1024 && !v.Name.Contains("quotes", StringComparison.Ordinal),
            async (s, id, v, i) => (await s.Devices.GetSettingsAsync(id, Ct)).Any(x => x.Name == $"n{i}" && x.Value == v.Text)),
        ["_set u name"] = new(
            (d, v, _, _) => d.SendArrayAsync("_set", Items("u"u8.ToArray(), v.Bytes)),
            v => IsSettingName(v),
            async (s, id, v, _) => IsSettingName(v) && !(await s.Devices.GetSettingsAsync(id, Ct)).Any(x => x.Name == v.Text),
            Settings: true),
        ["_sta g name"] = new(
            (d, v, _, _) => d.SendArrayAsync("_sta", Items("g"u8.ToArray(), [.. v.Bytes, .. "=1"u8])),
            v => v.Name == "equals" ? null : v.Printable && v.Bytes.Length is > 0 and <= 1024,
            async (s, id, v, _) => (await s.Devices.GetStatusAsync(id, Ct)).ContainsKey(v.Text)),
        ["_sta g value"] = new(
            (d, v, i, _) => d.SendArrayAsync("_sta", Items("g"u8.ToArray(), [.. Encoding.ASCII.GetBytes($"s{i}="), .. v.Bytes])),
            v => v.Printable && v.Bytes.Length <= 64 * 1024,
            async (s, id, v, i) => (await s.Devices.GetStatusAsync(id, Ct)).TryGetValue($"s{i}", out var value) && value == v.Text),
        ["_sta verb"] = new(
            (d, v, i, _) => d.SendArrayAsync("_sta", Items(v.Bytes, Encoding.ASCII.GetBytes($"t{i}=1"))),
            _ => false,
            async (s, id, _, i) => (await s.Devices.GetStatusAsync(id, Ct)).ContainsKey($"t{i}")),
        ["_cmd id"] = new(
            (d, v, _, _) => d.SendArrayAsync("_cmd", Items("a"u8.ToArray(), v.Bytes, "ok"u8.ToArray())),
            _ => false,
            async (s, id, _, _) => (await s.Devices.ListCommandsAsync(id, cancellationToken: Ct)).Any(c => c.State == CommandState.Acknowledged),
            Commands: 1),
        ["_cmd response"] = new(
            async (d, v, i, commands) =>
            {
                var commandId = commands[i];
                await d.SendArrayAsync("_cmd", Items("a"u8.ToArray(), Encoding.ASCII.GetBytes(commandId), v.Bytes));
            },
            _ => true,
            async (s, id, _, i) => (await s.Devices.ListCommandsAsync(id, cancellationToken: Ct)).Count(c => c.State == CommandState.Acknowledged) == i + 1,
            Commands: 22),
        ["_special payload"] = new(
            (d, v, _, _) => d.SendDataAsync("_special", v.Bytes),
            _ => false,
            (s, id, _, _) => Task.FromResult(!s.Connections.IsConnected(id))),
        ["sen: value"] = new(
            (d, v, i, _) => d.SendArrayAsync($"sen:h{i}", Items(Time(1700000000), v.Bytes)),
            v => FitsRecord(v),
            (s, id, _, i) => HasRecordAsync(s, id, $"sen:h{i}")),
        ["data payload"] = new(
            (d, v, i, _) => d.SendDataAsync($"raw{i}", v.Bytes),
            v => FitsRecord(v),
            (s, id, _, i) => HasRecordAsync(s, id, $"raw{i}")),
        ["array item"] = new(
            (d, v, i, _) => d.SendArrayAsync($"list{i}", Items(v.Bytes, "x"u8.ToArray())),
            v => FitsRecord(v),
            (s, id, _, i) => HasRecordAsync(s, id, $"list{i}")),
    };

    public static TheoryData<string> FieldNames => [.. Fields.Keys];

    [Theory]
    [MemberData(nameof(FieldNames))]
    public async Task A_bad_value_in_a_field_is_dropped_and_counted_and_the_connection_stays(string fieldName)
    {
        var field = Fields[fieldName];
        var ident = Idents.New();
        var deviceId = (await Server.Devices.CreateAsync(ident, cancellationToken: Ct)).Id;
        var commandIds = new List<string>();
        for (var i = 0; i < field.Commands; i++)
        {
            commandIds.Add(await Server.Devices.AddCommandAsync(deviceId, $"command {i}", cancellationToken: Ct));
        }
        if (field.Settings)
        {
            foreach (var value in Values.Where(IsSettingName))
            {
                await Server.Devices.SetSettingAsync(deviceId, value.Text, "1", Ct);
            }
        }

        await using var device = await Server.ConnectM2mpAsync();
        await device.IdentifyAsync(ident);
        await DrainUntilPingAsync(device, 0);
        using var errors = new ProtocolErrorCounter();

        byte n = 0;
        for (var i = 0; i < Values.Length; i++)
        {
            var value = Values[i];
            if (field.Applied(value) is not { } applied)
            {
                continue;
            }
            var counted = errors.Total;
            await field.Send(device, value, i, commandIds);
            await device.PingAsync(++n);
            var what = $"{fieldName} / {value}";
            Assert.True(applied == await field.IsApplied(Server, deviceId, value, i), $"{what}: expected {(applied ? "applied" : "dropped")}");
            if (!applied)
            {
                Assert.True(errors.Total > counted, $"{what}: dropped without being counted");
            }
        }
    }

    [Fact]
    public async Task A_bad_identification_is_refused_and_the_device_may_retry()
    {
        await using var device = await Server.ConnectM2mpAsync();
        foreach (var value in Values.Where(v => !v.Printable || v.Name is "empty" or "space"))
        {
            await device.SendAsync(o => M2mpWriter.WriteIdentification(o, value.Bytes));
            var answer = await device.ReadAsync();
            Assert.True(answer is { Kind: M2mpFrameKind.IdentificationResult, Value: 0 }, $"ident {value}: got {answer}");
        }
        await device.IdentifyNewAsync(Idents.New());
        await device.PingAsync(1);
    }

    [Fact]
    public async Task An_echo_of_the_largest_frame_goes_back_and_the_connection_stays()
    {
        await using var device = await Server.ConnectM2mpAsync();
        await device.IdentifyNewAsync(Idents.New());
        // 4-byte sized: 1 type + 4 size + 1 channel + payload = 1 MiB.
        var payload = new byte[(1024 * 1024) - 6];
        Random.Shared.NextBytes(payload);
        await device.SendDataAsync("echo", payload);
        var echo = await device.ReadAsync();
        Assert.Equal(payload, echo!.Payload);
        await device.PingAsync(1);
    }

    /// <summary>Sends ping <paramref name="n"/> and reads (and drops) the server's frames up to its answer.</summary>
    private static async Task DrainUntilPingAsync(M2mpDevice device, byte n)
    {
        await device.SendAsync(o => M2mpWriter.WriteDevicePing(o, n));
        while (await device.ReadAsync() is { } frame)
        {
            if (frame.Kind == M2mpFrameKind.DevicePing && frame.Value == n)
            {
                return;
            }
        }
        Assert.Fail("The server closed the connection.");
    }
}

/// <summary>Counts <c>m2m.ingest.protocol.errors</c> (all kinds) while it lives.</summary>
public sealed class ProtocolErrorCounter : IDisposable
{
    private readonly MeterListener _listener = new();
    private long _total;

    public ProtocolErrorCounter()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "M2M.Ingest" && instrument.Name == "m2m.ingest.protocol.errors")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref _total, value));
        _listener.Start();
    }

    public long Total => Interlocked.Read(ref _total);

    public void Dispose() => _listener.Dispose();
}
