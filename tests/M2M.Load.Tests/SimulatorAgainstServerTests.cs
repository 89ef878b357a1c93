using System.Globalization;
using System.Text.Json;
using M2M.Load.Simulation;
using M2M.Load.Stats;
using M2M.Messaging;
using M2M.Storage.Entities;
using M2M.Storage.TimeSeries;

namespace M2M.Load.Tests;

/// <summary>The simulated devices against a real server started in-process.</summary>
public sealed class SimulatorAgainstServerTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private static CancellationToken Test => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("m2mp")]
    [InlineData("alip")]
    [InlineData("mix")]
    public async Task Every_acknowledged_record_is_stored_once_with_its_time_and_content(string protocol)
    {
        var counters = new RunCounters();
        var plan = server.Plan(DeviceMode.Periodic, counters);
        var devices = server.CreateDevices(plan, 4, i => protocol == "alip" || (protocol == "mix" && i % 2 == 1));

        using var stop = new CancellationTokenSource();
        var running = devices.Select(d => d.RunAsync(stop.Token)).ToArray();
        await WaitUntilAsync(() => counters.RecordsAcked >= 4 * 20, TimeSpan.FromSeconds(30));
        await stop.CancelAsync();
        await Task.WhenAll(running).WaitAsync(TimeSpan.FromSeconds(30), Test);

        Assert.Equal(0, counters.ProtocolErrors);
        Assert.Equal(0, counters.ServerErrors);
        Assert.Equal(4, counters.Identified);
        foreach (var device in devices)
        {
            var acked = device.AckedRecords;
            Assert.NotEmpty(acked);
            // the final drain covered everything the device generated
            Assert.Equal(device.Generated, acked.Count);
            Assert.Equal(0, device.UnackedCount);

            var locations = await server.StoredAsync(device.Ident, "sen:loc");
            var temperatures = await server.StoredAsync(device.Ident, "sen:temp");
            Assert.Equal(acked.Count(r => r.Kind == RecordKind.Location), locations.Count);
            Assert.Equal(acked.Count(r => r.Kind == RecordKind.Temperature), temperatures.Count);

            var byTime = locations.Concat(temperatures).ToDictionary(r => (r.Type, r.Time.ToUnixTimeSeconds()));
            foreach (var record in acked)
            {
                Assert.True(byTime.TryGetValue((record.Type, record.Time), out var stored), $"{device.Ident} {record.Type} at {record.Time} is missing");
                Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(record.Time), stored.Time);
                AssertSameContent(record, stored);
            }
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Settings_and_commands_pushed_to_a_connected_device_are_acknowledged(bool alip)
    {
        var counters = new RunCounters();
        var plan = server.Plan(DeviceMode.Idle, counters);
        var device = server.CreateDevices(plan, 1, _ => alip)[0];
        using var stop = new CancellationTokenSource();
        var running = device.RunAsync(stop.Token);
        await device.WaitIdentifiedAsync(Test).WaitAsync(TimeSpan.FromSeconds(30), Test);

        var registered = await server.Devices.GetByIdentAsync(device.Ident, Test);
        Assert.NotNull(registered);
        var id = registered.Id;

        await server.Devices.SetSettingAsync(id, "gps_period", "15", Test);
        var commandId = await server.Devices.AddCommandAsync(id, "reboot", cancellationToken: Test);
        await server.Bus.PublishAsync(Topics.Device(id), new BusMessage(Calls.SendSettings, "test").With("device_id", id.ToString("D")), Test);
        await server.Bus.PublishAsync(Topics.Device(id), new BusMessage(Calls.SendCommands, "test").With("device_id", id.ToString("D")), Test);

        await WaitUntilAsync(async () =>
        {
            var toSend = await server.Devices.GetSettingsToSendAsync(id, Test);
            var command = await server.Devices.GetCommandAsync(id, commandId, Test);
            return toSend.Count == 0 && command is { State: CommandState.Acknowledged };
        }, TimeSpan.FromSeconds(20));

        Assert.Equal("15", device.Settings["gps_period"]);
        Assert.Single(device.AcknowledgedCommands);
        var setting = Assert.Single(await server.Devices.GetSettingsAsync(id, Test), s => s.Name == "gps_period");
        Assert.Equal("15", setting.Value);
        Assert.False(setting.Pending);
        Assert.NotNull(setting.AckedAt);
        if (!alip)
        {
            // M2MP devices report their capabilities when the server asks at identification.
            await WaitUntilAsync(async () => (await server.Devices.GetStatusAsync(id, Test)).ContainsKey("cap"), TimeSpan.FromSeconds(10));
            Assert.Equal(device.Status["cap"], (await server.Devices.GetStatusAsync(id, Test))["cap"]);
        }
        Assert.Equal(0, counters.ProtocolErrors);
        Assert.Equal(0, counters.ServerErrors);

        await stop.CancelAsync();
        await running.WaitAsync(TimeSpan.FromSeconds(30), Test);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_forced_disconnect_loses_nothing_and_stores_no_duplicate(bool alip)
    {
        var counters = new RunCounters();
        // No barrier before the disconnect: everything sent so far is unacknowledged and must be resent.
        var plan = server.Plan(DeviceMode.Periodic, counters, barrierEvery: 1000, period: TimeSpan.FromMilliseconds(30));
        var device = server.CreateDevices(plan, 1, _ => alip)[0];
        using var stop = new CancellationTokenSource();
        var running = device.RunAsync(stop.Token);

        await WaitUntilAsync(() => device.UnackedCount >= 20, TimeSpan.FromSeconds(30));
        var before = device.Generated;
        device.ForceDisconnect();
        await WaitUntilAsync(() => device.Sessions >= 2 && device.IsIdentified, TimeSpan.FromSeconds(30));
        // the resend carried a barrier: everything from the first connection is acknowledged
        await WaitUntilAsync(() => device.AckedRecords.Count >= before, TimeSpan.FromSeconds(30));
        await Task.Delay(300, Test);
        await stop.CancelAsync();
        await running.WaitAsync(TimeSpan.FromSeconds(30), Test);

        Assert.True(counters.RecordsResent >= 20, $"resent {counters.RecordsResent}");
        var acked = device.AckedRecords;
        Assert.Equal(acked.Count, acked.Select(r => r.Sequence).Distinct().Count());
        // Every record is acknowledged, or still in the device's buffer: the stop may cancel the send of
        // the last ones generated, and a barrier covers only records that were sent.
        Assert.True(acked.Count >= before, $"{acked.Count} acknowledged, {before} generated before the disconnect");
        Assert.Equal(device.Generated, acked.Count + device.UnackedCount);

        // Every acknowledged record is stored, once.
        var stored = (await server.StoredAsync(device.Ident, "sen:loc")).Concat(await server.StoredAsync(device.Ident, "sen:temp")).ToList();
        var storedKeys = stored.Select(r => (r.Type, r.Time.ToUnixTimeSeconds())).ToList();
        Assert.Equal(storedKeys.Count, storedKeys.Distinct().Count());
        Assert.Empty(acked.Select(r => (r.Type, (long)r.Time)).Except(storedKeys));
        Assert.True(stored.Count <= device.Generated, $"{stored.Count} stored, {device.Generated} generated");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_replayed_file_is_stored_at_its_times_shifted_to_now(bool alip)
    {
        var counters = new RunCounters();
        var replay = ReplayFile.Parse(
        [
            "time,type,content",
            "1700000000,sen:loc,48.85,2.35,42,35",
            "1700000001,sen:temp,21.5",
            "1700000002,sen:loc,48.86,2.36",
        ]);
        var start = DateTimeOffset.UtcNow;
        var plan = server.Plan(DeviceMode.Replay, counters, barrierEvery: 2, replay: replay, replayStart: start);
        var device = server.CreateDevices(plan, 1, _ => alip)[0];
        using var stop = new CancellationTokenSource();
        var running = device.RunAsync(stop.Token);
        await WaitUntilAsync(() => device.AckedRecords.Count == 3, TimeSpan.FromSeconds(30));
        await stop.CancelAsync();
        await running.WaitAsync(TimeSpan.FromSeconds(30), Test);

        var locations = await server.StoredAsync(device.Ident, "sen:loc");
        var temperatures = await server.StoredAsync(device.Ident, "sen:temp");
        Assert.Equal(
            [(uint)start.ToUnixTimeSeconds(), (uint)start.AddSeconds(2).ToUnixTimeSeconds()],
            locations.Select(r => (uint)r.Time.ToUnixTimeSeconds()));
        Assert.Equal(48.86, JsonDocument.Parse(locations[1].Data).RootElement.GetProperty("lat").GetDouble(), 0.0001);
        var temperature = Assert.Single(temperatures);
        Assert.Equal((uint)start.AddSeconds(1).ToUnixTimeSeconds(), (uint)temperature.Time.ToUnixTimeSeconds());
        Assert.Equal("21.5", JsonDocument.Parse(temperature.Data).RootElement.GetString());
        Assert.Equal(0, counters.ProtocolErrors + counters.ServerErrors);
    }

    private static void AssertSameContent(DeviceRecord sent, TimeSeriesRecord stored)
    {
        using var json = JsonDocument.Parse(stored.Data);
        if (sent.Kind == RecordKind.Location)
        {
            Assert.Equal(sent.Latitude, json.RootElement.GetProperty("lat").GetDouble(), 0.0001);
            Assert.Equal(sent.Longitude, json.RootElement.GetProperty("lon").GetDouble(), 0.0001);
            Assert.Equal(sent.Speed, json.RootElement.GetProperty("spd").GetDouble());
            Assert.Equal(sent.Altitude, json.RootElement.GetProperty("alt").GetDouble());
        }
        else
        {
            Assert.Equal(sent.Value.ToString("0.0", CultureInfo.InvariantCulture), json.RootElement.GetString());
        }
    }

    private static Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout) =>
        WaitUntilAsync(() => ValueTask.FromResult(condition()), timeout);

    private static async Task WaitUntilAsync(Func<ValueTask<bool>> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"condition not met within {timeout.TotalSeconds} s");
            }
            await Task.Delay(20, Test);
        }
    }
}
