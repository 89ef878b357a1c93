using M2M.Ingest.Hosting;
using M2M.Ingest.M2mp;
using M2M.Messaging;
using M2M.Server;
using M2M.Storage.Entities;
using M2M.Testing;

namespace M2M.Ingest.Sessions.Tests;

/// <summary>
/// Issue 13, "Protocol behaviour that differs from the specs": multi-line commands, the device's
/// protocol, the M2MP idle rule, the <c>new_receiver</c> event.
/// </summary>
public sealed class ProtocolBehaviourTests(SharedServer shared) : IClassFixture<SharedServer>
{
    private DeviceServer Server => shared.Server;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_protocol_of_the_last_identification_is_recorded_on_the_device()
    {
        var ident = Idents.New();
        Assert.Null((await Server.Devices.CreateAsync(ident, cancellationToken: Ct)).Protocol);

        await using (var alip = await Server.ConnectAlipAsync())
        {
            await alip.IdentifyAsync(ident);
            await alip.ExpectAsync("S GA");
            await alip.BarrierAsync();
        }
        Assert.Equal(DeviceProtocols.Alip, (await Server.DeviceAsync(ident)).Protocol);

        await using var m2mp = await Server.ConnectM2mpAsync();
        await m2mp.IdentifyAsync(ident);
        await m2mp.ReadAsync();
        Assert.Equal(DeviceProtocols.M2mp, (await Server.DeviceAsync(ident)).Protocol);
    }

    [Fact]
    public async Task A_multi_line_command_is_failed_for_an_ALIP_device_and_sent_as_items_to_an_M2MP_device()
    {
        var ident = Idents.New();
        var id = (await Server.Devices.CreateAsync(ident, cancellationToken: Ct)).Id;
        await Server.Devices.SetStatusAsync(id, "cap", "x", Ct);
        await Server.Devices.SetSettingAsync(id, "a", "1", Ct);
        var multi = await Server.Devices.AddCommandAsync(id, "set apn\tinternet\nreboot", cancellationToken: Ct);
        var single = await Server.Devices.AddCommandAsync(id, "status", cancellationToken: Ct);
        var failedEvent = new TaskCompletionSource<BusMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var events = Server.Bus.Subscribe(Topics.Events, m =>
        {
            if (m.Call == Calls.CommandFailed && m.GetString("command_id") == multi)
            {
                failedEvent.TrySetResult(m);
            }
            return ValueTask.CompletedTask;
        });

        // M2MP carries the lines as the items of the _cmd array.
        await using (var m2mp = await Server.ConnectM2mpAsync())
        {
            await m2mp.IdentifyAsync(ident);
            Assert.Equal("_set [\"sg\", \"a=1\"]", (await m2mp.ReadAsync())!.ToString());
            Assert.Equal($"_cmd [\"e\", \"{multi}\", \"set apn\tinternet\", \"reboot\"]", (await m2mp.ReadAsync())!.ToString());
            Assert.Equal($"_cmd [\"e\", \"{single}\", \"status\"]", (await m2mp.ReadAsync())!.ToString());
            await m2mp.PingAsync(1);
        }

        // ALIP cannot: the command fails with its reason and is never sent; the next one is.
        await using var alip = await Server.ConnectAlipAsync();
        await alip.IdentifyAsync(ident);
        await alip.ExpectAsync("S S a 1");
        await alip.ExpectAsync("C 1 status");
        await alip.BarrierAsync();
        var failed = (await Server.Devices.GetCommandAsync(id, multi, Ct))!;
        Assert.Equal(CommandState.Failed, failed.State);
        Assert.Contains("one line", failed.Failure, StringComparison.Ordinal);
        Assert.NotNull(failed.FailedAt);
        Assert.Equal([single], (await Server.Devices.GetPendingCommandsAsync(id, Ct)).Select(c => c.Id));
        var message = await failedEvent.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.Equal(failed.Failure, message.GetString("reason"));
        Assert.Equal(id.ToString("D"), message.GetString("device_id"));

        // C L sends what is pending again: still not the failed command.
        await alip.SendAsync("C L");
        await alip.ExpectAsync("C 1 status");
    }

    [Fact]
    public async Task An_M2MP_connection_is_only_pinged_when_silent_not_closed_by_the_ALIP_idle_rule()
    {
        await using var server = await DeviceServer.StartAsync(
            "PingAfterIdle=00:00:00.200", "PingMinSendGap=00:00:00.100", "IdleDisconnect=00:00:01");
        await using var m2mp = await server.ConnectM2mpAsync();
        await m2mp.IdentifyNewAsync(Idents.New());
        await using var alip = await server.ConnectAlipAsync();
        await alip.IdentifyAsync(Idents.New());
        await alip.ExpectAsync("S GA");

        // The ALIP device, silent past IdleDisconnect, is told and closed...
        var lines = await alip.ReadUntilClosedAsync();
        Assert.Equal("QUIT idle timeout", lines[^1]);

        // ...the equally silent M2MP device only got pings, and is still served.
        var pings = 0;
        while (pings < 3)
        {
            var frame = await m2mp.ReadAsync();
            Assert.NotNull(frame);
            Assert.Equal(M2mpFrameKind.ServerPing, frame.Kind);
            pings++;
        }
        // Still served: its own ping is answered (between more server pings).
        await m2mp.SendAsync(o => M2mpWriter.WriteDevicePing(o, 7));
        ServerFrame? answer;
        do
        {
            answer = await m2mp.ReadAsync();
            Assert.NotNull(answer);
        }
        while (answer.Kind == M2mpFrameKind.ServerPing);
        Assert.Equal((M2mpFrameKind.DevicePing, (byte)7), (answer.Kind, answer.Value));
    }

    [Fact]
    public async Task An_M2MP_idle_limit_closes_a_silent_M2MP_connection_when_configured()
    {
        await using var server = await DeviceServer.StartAsync("M2mpIdleDisconnect=00:00:00.500");
        await using var m2mp = await server.ConnectM2mpAsync();
        await m2mp.IdentifyNewAsync(Idents.New());
        Assert.Empty(await m2mp.ReadUntilClosedAsync());
    }

    [Fact]
    public async Task An_ingest_node_announces_itself_with_new_receiver_once_its_listeners_are_bound()
    {
        using var data = new TempDirectory("m2m-ingest");
        var app = M2MServer.Build(
        [
            "--urls", "http://127.0.0.1:0", "--M2M:DataDirectory", data.Path, "--M2M:Ingest:M2mpPort", "0",
            "--M2M:Ingest:AlipPort", "0", "--M2M:Ingest:NodeName", "node-under-test", "--Logging:LogLevel:Default", "Warning",
        ]);
        await using (app)
        {
            var announced = new TaskCompletionSource<BusMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
            using var events = app.Services.GetRequiredService<IMessageBus>().Subscribe(Topics.Events, m =>
            {
                if (m.Call == Calls.NewReceiver)
                {
                    announced.TrySetResult(m);
                }
                return ValueTask.CompletedTask;
            });
            await app.StartAsync(Ct);
            var message = await announced.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
            var endpoints = app.Services.GetRequiredService<IngestEndpoints>();

            Assert.Equal("node-under-test", message.From);
            Assert.Equal("node-under-test", message.GetString("node"));
            Assert.Equal(endpoints.M2mp!.Port, (int)message.Fields["m2mp_port"]!);
            Assert.Equal(endpoints.Alip!.Port, (int)message.Fields["alip_port"]!);
            await app.StopAsync(Ct);
        }
    }

    [Fact]
    public async Task A_stopping_server_says_goodbye_to_its_devices_and_stores_their_disconnection()
    {
        await using var server = await DeviceServer.StartAsync();
        var ident = Idents.New();
        var alip = await server.ConnectAlipAsync();
        await alip.IdentifyAsync(ident);
        await alip.ExpectAsync("S GA");
        var m2mp = await server.ConnectM2mpAsync();
        await m2mp.IdentifyNewAsync(Idents.New());
        var id = (await server.DeviceAsync(ident)).Id;

        var restart = server.RestartAsync();
        Assert.Equal(["QUIT server shutting down"], await alip.ReadUntilClosedAsync());
        Assert.Empty(await m2mp.ReadUntilClosedAsync());
        await restart;
        await alip.DisposeAsync();
        await m2mp.DisposeAsync();

        var records = await server.RecordsAsync(id, "_server");
        Assert.Contains(records, r => r.Data.Contains("\"device_disconnected\"", StringComparison.Ordinal));
    }
}
