using M2M.Messaging;
using M2M.Storage.Entities;

namespace M2M.Ingest.Sessions.Tests;

/// <summary>Pushes from the bus (design.md "Data flow" 5): what the API does after changing the registry.</summary>
[Collection(SharedServerCollection.Name)]
public sealed class PushTests(SharedServer shared)
{
    private DeviceServer Server => shared.Server;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private Task PushAsync(Guid deviceId, string call) =>
        Server.Bus.PublishAsync(Topics.Device(deviceId), new BusMessage(call, "test-api"), Ct).AsTask();

    [Fact]
    public async Task A_settings_change_and_a_new_command_reach_a_connected_ALIP_device()
    {
        var ident = Idents.New();
        await using var device = await Server.ConnectAlipAsync();
        await device.IdentifyAsync(ident);
        await device.ExpectAsync("S GA");
        var id = (await Server.DeviceAsync(ident)).Id;

        await Server.Devices.SetSettingAsync(id, "gps_period", "30", Ct);
        await PushAsync(id, Calls.SendSettings);
        await device.ExpectAsync("S S gps_period 30");

        var commandId = await Server.Devices.AddCommandAsync(id, "reboot", cancellationToken: Ct);
        Assert.Equal(CommandState.Pending, (await Server.Devices.GetCommandAsync(id, commandId, Ct))!.State);
        await PushAsync(id, Calls.SendCommands);
        await device.ExpectAsync("C 1 reboot");
        await DeviceServer.EventuallyAsync(
            async () => (await Server.Devices.GetCommandAsync(id, commandId, Ct))!.State == CommandState.Sent, "the command sent");

        await device.SendAsync("C A 1");
        await device.SendAsync("S A gps_period 30");
        await device.BarrierAsync();
        Assert.Equal(CommandState.Acknowledged, (await Server.Devices.GetCommandAsync(id, commandId, Ct))!.State);
        Assert.Empty(await Server.Devices.GetSettingsToSendAsync(id, Ct));

        // A repeated push does not repeat what the device already has.
        await PushAsync(id, Calls.SendSettings);
        await PushAsync(id, Calls.SendCommands);
        await device.ExpectSilenceAsync(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public async Task A_settings_change_and_a_new_command_reach_a_connected_M2MP_device()
    {
        var ident = Idents.New();
        await using var device = await Server.ConnectM2mpAsync();
        await device.IdentifyNewAsync(ident);
        var id = (await Server.DeviceAsync(ident)).Id;

        await Server.Devices.SetSettingAsync(id, "gps_period", "30", Ct);
        await PushAsync(id, Calls.SendSettings);
        Assert.Equal("_set [\"sg\", \"gps_period=30\"]", (await device.ReadAsync())!.ToString());
        // Not acknowledged yet, but just sent: the same name=value is not re-sent within 40 s.
        await PushAsync(id, Calls.SendSettings);
        await device.ExpectSilenceAsync(TimeSpan.FromMilliseconds(300));
        // A new value is sent at once.
        await Server.Devices.SetSettingAsync(id, "gps_period", "45", Ct);
        await PushAsync(id, Calls.SendSettings);
        Assert.Equal("_set [\"sg\", \"gps_period=45\"]", (await device.ReadAsync())!.ToString());

        var commandId = await Server.Devices.AddCommandAsync(id, "reboot", cancellationToken: Ct);
        await PushAsync(id, Calls.SendCommands);
        Assert.Equal($"_cmd [\"e\", \"{commandId}\", \"reboot\"]", (await device.ReadAsync())!.ToString());
        await DeviceServer.EventuallyAsync(
            async () => (await Server.Devices.GetCommandAsync(id, commandId, Ct))!.State == CommandState.Sent, "the command sent");

        await device.SendArrayAsync("_cmd", "a", commandId);
        await device.PingAsync(1);
        Assert.Equal(CommandState.Acknowledged, (await Server.Devices.GetCommandAsync(id, commandId, Ct))!.State);
    }

    [Fact]
    public async Task A_push_addressed_to_a_connection_reaches_it_and_disconnect_closes_it()
    {
        var ident = Idents.New();
        await using var device = await Server.ConnectAlipAsync();
        await device.IdentifyAsync(ident);
        await device.ExpectAsync("S GA");
        var id = (await Server.DeviceAsync(ident)).Id;
        var connectionId = Assert.Single(Server.Connections.GetByDevice(id)).ConnectionId;

        await Server.Devices.SetSettingAsync(id, "x", "1", Ct);
        await Server.Bus.PublishAsync(Topics.Connection(connectionId), new BusMessage(Calls.SendSettings, "test-api"), Ct);
        await device.ExpectAsync("S S x 1");

        await Server.Bus.PublishAsync(Topics.Device(id), new BusMessage(Calls.Disconnect, "test-api").With("reason", "maintenance"), Ct);
        Assert.Equal(["QUIT maintenance"], await device.ReadUntilClosedAsync());
    }

    [Fact]
    public async Task An_offline_device_gets_its_settings_and_commands_at_its_next_identification()
    {
        var ident = Idents.New();
        var id = (await Server.Devices.CreateAsync(ident, cancellationToken: Ct)).Id;
        await Server.Devices.SetSettingAsync(id, "gps_period", "30", Ct);
        var commandId = await Server.Devices.AddCommandAsync(id, "reboot", cancellationToken: Ct);
        // Nobody is connected: the push reaches nobody.
        await PushAsync(id, Calls.SendSettings);
        await PushAsync(id, Calls.SendCommands);
        Assert.Equal(CommandState.Pending, (await Server.Devices.GetCommandAsync(id, commandId, Ct))!.State);

        await using (var alip = await Server.ConnectAlipAsync())
        {
            await alip.IdentifyAsync(ident);
            await alip.ExpectAsync("S S gps_period 30");
            await alip.ExpectAsync("C 1 reboot");
            Assert.Equal("QUIT bye", await alip.AskAsync("QUIT"));
        }

        // Not acknowledged: the next connection (any protocol) gets them again.
        await using var m2mp = await Server.ConnectM2mpAsync();
        await m2mp.IdentifyAsync(ident);
        Assert.Equal("_set [\"sg\", \"gps_period=30\"]", (await m2mp.ReadAsync())!.ToString());
        Assert.Equal($"_cmd [\"e\", \"{commandId}\", \"reboot\"]", (await m2mp.ReadAsync())!.ToString());
        Assert.Equal(CommandState.Sent, (await Server.Devices.GetCommandAsync(id, commandId, Ct))!.State);
    }

    [Fact]
    public async Task Events_announce_connection_identification_and_disconnection()
    {
        var ident = Idents.New();
        var events = new System.Collections.Concurrent.ConcurrentQueue<BusMessage>();
        using var subscription = Server.Bus.Subscribe(Topics.Events, m =>
        {
            if (m.GetString("ident") == ident || m.GetString("protocol") == "alip")
            {
                events.Enqueue(m);
            }
            return ValueTask.CompletedTask;
        });

        var device = await Server.ConnectAlipAsync();
        await device.IdentifyAsync(ident);
        await device.ExpectAsync("S GA");
        var connectionId = Assert.Single(Server.Connections.GetByDevice((await Server.DeviceAsync(ident)).Id)).ConnectionId;
        Assert.Equal("QUIT bye", await device.AskAsync("QUIT"));
        await device.DisposeAsync();

        await DeviceServer.EventuallyAsync(
            () => Task.FromResult(events.Any(e => e.Call == Calls.DeviceDisconnected && e.GetString("connection_id") == connectionId)),
            "device_disconnected");
        var mine = events.Where(e => e.GetString("connection_id") == connectionId).ToList();
        Assert.Equal([Calls.DeviceConnected, Calls.DeviceIdentified, Calls.DeviceDisconnected], mine.Select(e => e.Call));
        Assert.NotNull(mine[2].GetDouble("connection_duration"));
    }
}
