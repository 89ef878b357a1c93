using M2M.Messaging;
using M2M.Storage.Entities;
using M2M.Testing;

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
    public async Task Connected_devices_hold_no_bus_subscription_of_their_own_and_still_get_their_pushes()
    {
        var bus = Assert.IsType<M2M.Messaging.InProcess.InProcessMessageBus>(Server.Bus);
        var subjectsBefore = bus.SubjectCount;
        var devices = new List<(AlipDevice Device, Guid Id)>();
        try
        {
            for (var i = 0; i < 5; i++)
            {
                var ident = Idents.New();
                var device = await Server.ConnectAlipAsync();
                devices.Add((device, Guid.Empty));
                await device.IdentifyAsync(ident);
                await device.ExpectAsync("S GA");
                devices[i] = (device, (await Server.DeviceAsync(ident)).Id);
            }

            // The node's dispatcher routes every push: no subject per connection or device on the bus.
            Assert.Equal(subjectsBefore, bus.SubjectCount);
            foreach (var (device, id) in devices)
            {
                await Server.Devices.SetSettingAsync(id, "gps_period", "45", Ct);
                await PushAsync(id, Calls.SendSettings);
                await device.ExpectAsync("S S gps_period 45");
            }
        }
        finally
        {
            foreach (var (device, _) in devices)
            {
                await device.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task A_device_that_reconnects_gets_its_pushes_on_the_new_connection()
    {
        var ident = Idents.New();
        var first = await Server.ConnectM2mpAsync();
        await first.IdentifyNewAsync(ident);
        var id = (await Server.DeviceAsync(ident)).Id;
        var firstConnection = Assert.Single(Server.Connections.GetByDevice(id)).ConnectionId;
        await first.DisposeAsync();
        await DeviceServer.EventuallyAsync(() => Task.FromResult(Server.Connections.Get(firstConnection) is null), "the first connection gone");

        await using var second = await Server.ConnectM2mpAsync();
        await second.IdentifyNewAsync(ident);
        await Server.Devices.SetSettingAsync(id, "gps_period", "60", Ct);
        await PushAsync(id, Calls.SendSettings);

        Assert.Equal("_set [\"sg\", \"gps_period=60\"]", (await second.ReadAsync())!.ToString());
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

    [Fact]
    public async Task Events_announce_setting_and_command_acknowledgements_and_new_data_types()
    {
        var ident = Idents.New();
        var events = new System.Collections.Concurrent.ConcurrentQueue<BusMessage>();
        using var subscription = Server.Bus.Subscribe(Topics.Events, m =>
        {
            if (m.GetString("ident") == ident)
            {
                events.Enqueue(m);
            }
            return ValueTask.CompletedTask;
        });
        await using var device = await Server.ConnectAlipAsync();
        await device.IdentifyAsync(ident);
        await device.ExpectAsync("S GA");
        var id = (await Server.DeviceAsync(ident)).Id;
        var commandId = await Server.Devices.AddCommandAsync(id, "reboot", cancellationToken: Ct);
        await Server.Devices.SetSettingAsync(id, "gps_period", "30", Ct);

        await PushAsync(id, Calls.SendSettings);
        await device.ExpectAsync("S S gps_period 30");
        await PushAsync(id, Calls.SendCommands);
        await device.ExpectAsync("C 1 reboot");
        await device.SendAsync("S A gps_period 30");
        await device.SendAsync("S S own 7");
        await device.SendAsync("C A 1 done");
        await device.SendAsync("D T 21.5");
        await device.SendAsync("D T 21.6");
        await device.SendAsync("D V 12.1");
        await device.BarrierAsync();

        var settings = events.Where(e => e.Call == Calls.SettingAcknowledged).ToList();
        Assert.Equal(["gps_period=30:acknowledged", "own=7:reported"],
            settings.Select(e => $"{e.GetString("name")}={e.GetString("value")}:{e.GetString("result")}"));
        var command = Assert.Single(events, e => e.Call == Calls.CommandAcknowledged);
        Assert.Equal(commandId, command.GetString("command_id"));
        Assert.Equal("done", command.GetString("response"));
        Assert.Equal(["sen:temp", "sen:volt"], events.Where(e => e.Call == Calls.NewDataType).Select(e => e.GetString("type")));
        Assert.All(events, e => Assert.Equal(id.ToString("D"), e.GetString("device_id")));

        // A type the device already has is not new on its next connection.
        await device.SendAsync("QUIT");
        await using var again = await Server.ConnectAlipAsync();
        await again.IdentifyAsync(ident);
        await again.SendAsync("D T 22.0");
        await again.SendAsync("D F 40");
        await again.BarrierAsync();
        Assert.Equal(["sen:temp", "sen:volt", "sen:fuel"], events.Where(e => e.Call == Calls.NewDataType).Select(e => e.GetString("type")));
    }
}
