using M2M.Ingest.M2mp;

namespace M2M.Ingest.Sessions.Tests;

/// <summary>Behaviour that depends on configuration: each test starts its own server.</summary>
public sealed class ConfiguredServerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Without_auto_registration_an_unknown_ident_is_refused_and_may_retry()
    {
        await using var server = await DeviceServer.StartAsync("AutoRegister=false");
        var known = Idents.New();
        await server.Devices.CreateAsync(known, cancellationToken: Ct);

        await using var alip = await server.ConnectAlipAsync();
        Assert.Equal("ID 0", await alip.AskAsync($"ID {Idents.New()}"));
        Assert.Equal("ERR You must be identified", await alip.AskAsync("D T 1"));
        await alip.IdentifyAsync(known);

        await using var m2mp = await server.ConnectM2mpAsync();
        await m2mp.SendIdentAsync(Idents.New());
        var refused = await m2mp.ReadAsync();
        Assert.Equal(M2mpFrameKind.IdentificationResult, refused!.Kind);
        Assert.Equal(0, refused.Value);
        await m2mp.IdentifyAsync(known);

        Assert.Null(await server.Devices.GetByIdentAsync("imei:000000000", Ct));
    }

    [Fact]
    public async Task A_connection_that_does_not_identify_in_time_is_closed()
    {
        await using var server = await DeviceServer.StartAsync("IdentificationTimeout=00:00:00.300");
        await using var alip = await server.ConnectAlipAsync();
        await using var m2mp = await server.ConnectM2mpAsync();
        await using var identified = await server.ConnectAlipAsync();
        await identified.IdentifyAsync(Idents.New());
        await identified.ExpectAsync("S GA");

        var lines = await alip.ReadUntilClosedAsync();
        Assert.Single(lines, l => l.StartsWith("QUIT ", StringComparison.Ordinal));
        Assert.Empty(await m2mp.ReadUntilClosedAsync());

        // The identified device stays.
        Assert.StartsWith("T ", await identified.AskAsync("T"));
    }

    [Fact]
    public async Task A_silent_device_is_pinged_then_disconnected()
    {
        await using var server = await DeviceServer.StartAsync(
            "PingAfterIdle=00:00:00.300", "PingMinSendGap=00:00:00.100", "IdleDisconnect=00:00:02");
        await using var alip = await server.ConnectAlipAsync();
        await alip.IdentifyAsync(Idents.New());
        await alip.ExpectAsync("S GA");
        await using var m2mp = await server.ConnectM2mpAsync();
        await m2mp.IdentifyAsync(Idents.New());

        Assert.Equal("A 1", await alip.ReadLineAsync());
        var frames = new List<ServerFrame>();
        while (frames.Count(f => f.Kind == M2mpFrameKind.ServerPing) == 0)
        {
            frames.Add((await m2mp.ReadAsync())!);
        }
        Assert.Equal(1, frames.Single(f => f.Kind == M2mpFrameKind.ServerPing).Value);

        // Answering the ping is activity: the ALIP device stays while it answers.
        await alip.SendAsync("B 1");
        var rest = await alip.ReadUntilClosedAsync();
        Assert.Equal("QUIT idle timeout", rest[^1]);
        Assert.All(rest[..^1], l => Assert.StartsWith("A ", l));
    }

    [Fact]
    public async Task Diagnostics_answer_when_enabled()
    {
        await using var server = await DeviceServer.StartAsync("Diagnostics=true");
        var ident = Idents.New();
        await using var device = await server.ConnectAlipAsync();
        Assert.Equal("ERR You must be identified", await device.AskAsync("DB ID"));
        await device.IdentifyAsync(ident);
        await device.ExpectAsync("S GA");
        var id = (await server.DeviceAsync(ident)).Id;

        Assert.Equal($"DB ID {id:D}", await device.AskAsync("DB ID"));
        var source = await device.AskAsync("DB SOURCE");
        Assert.Matches(@"^DB SOURCE 127\.0\.0\.1:\d+ \S+:\d+$", source);
        Assert.Matches(@"^DB CONNECTED \d+$", await device.AskAsync("DB CONNECTED"));
        Assert.StartsWith("DB VERSION ", await device.AskAsync("DB VERSION"));

        await device.SendAsync("E 1700000000 T 21.5");
        await device.SendAsync("E 1700000001 V 12");
        await device.BarrierAsync();
        await device.SendAsync("DB LAST 2");
        await device.ExpectAsync("BEGIN LAST");
        Assert.Matches("^\\S+ _server ", await device.ReadLineAsync());
        Assert.Matches("^\\S+ _server ", await device.ReadLineAsync());
        await device.ExpectAsync("END");
        Assert.StartsWith("ERR ", await device.AskAsync("DB NOPE"));
    }

    [Fact]
    public async Task Records_over_the_rate_limit_are_slowed_down_not_dropped()
    {
        await using var server = await DeviceServer.StartAsync("MaxRecordsPerSecond=20");
        var ident = Idents.New();
        await using var device = await server.ConnectAlipAsync();
        await device.IdentifyAsync(ident);
        await device.ExpectAsync("S GA");

        var started = System.Diagnostics.Stopwatch.StartNew();
        await device.SendRawAsync(System.Text.Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, 50).Select(i => $"D T {i}\n"))));
        await device.BarrierAsync();
        Assert.True(started.Elapsed >= TimeSpan.FromSeconds(1.5), $"50 records at 20/s took only {started.Elapsed}.");
        Assert.Equal(50, (await server.RecordsAsync((await server.DeviceAsync(ident)).Id, "sen:temp")).Count);
    }

    [Fact]
    public async Task Connections_over_the_maximum_are_closed_at_once()
    {
        await using var server = await DeviceServer.StartAsync("MaxConnections=2");
        await using var first = await server.ConnectAlipAsync();
        await using var second = await server.ConnectM2mpAsync();
        Assert.StartsWith("T ", await first.AskAsync("T"));
        await DeviceServer.EventuallyAsync(() => Task.FromResult(server.Connections.Count == 2), "two connections registered");

        // The third is cut at once: the reset may even reach the client while it connects.
        string? answer;
        try
        {
            await using var third = await server.ConnectAlipAsync();
            await third.SendAsync("T");
            answer = await third.ReadLineAsync();
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or IOException)
        {
            answer = null;
        }
        Assert.Null(answer);
        Assert.StartsWith("T ", await first.AskAsync("T"));
        Assert.Equal(2, server.Connections.Count);
    }
}
