using System.Net;
using System.Net.Sockets;
using M2M.Testing;

namespace M2M.Server.Tests;

/// <summary>
/// The server under a lowered open-files limit (a child process started with <c>ulimit -n</c>),
/// flooded with device connections that never identify: it refuses those beyond the limit it derived
/// from the descriptors, and HTTP and an identified device keep working.
/// </summary>
[Collection(ChildServerCollection.Name)]
public sealed class OpenFilesLimitTests
{
    // The runtime alone holds about 320 descriptors (two per loaded assembly) in a Debug build.
    private const int OpenFilesLimit = 1_500;
    private const int Reserve = 600;
    private const int DeviceLimit = OpenFilesLimit - Reserve;
    private const int FloodSize = 1_600;

    [Fact]
    public async Task At_the_open_files_limit_new_device_connections_are_refused_while_HTTP_and_identified_devices_keep_working()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "Open-files limits are tested on Linux.");
        var ct = TestContext.Current.CancellationToken;
        using var data = new TempDirectory("m2m-nofile");
        await using var server = await ServerProcess.StartAsync(
            data.Path, OpenFilesLimit,
            "--M2M:Ingest:ReservedFileDescriptors", Reserve.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--M2M:Storage:Rocks:MaxOpenFiles", "100",
            // Only a refusal may close a flood connection during the test.
            "--M2M:Ingest:IdentificationTimeout", "00:10:00");
        using var http = new HttpClient { BaseAddress = server.Http, Timeout = TimeSpan.FromSeconds(30) };
        TestContext.Current.TestOutputHelper?.WriteLine($"Server {server.Pid}: {server.OpenFiles()} files open after start");
        try
        {
            await FloodAsync(server, http, ct);
        }
        finally
        {
            TestContext.Current.TestOutputHelper?.WriteLine(string.Join('\n', server.Log.Where(l => !l.Contains("Protocol violation", StringComparison.Ordinal)).TakeLast(40)));
        }
    }

    private static async Task FloodAsync(ChildServer server, HttpClient http, CancellationToken ct)
    {

        await using var device = await LineDevice.IdentifiedAsync(server.Alip, "imei:990000000001");

        // Half on each protocol, more than the limit in total; they never identify.
        using var m2mp = await Flood.OpenAsync(server.M2mp, FloodSize / 2);
        using var alip = await Flood.OpenAsync(server.Alip, FloodSize / 2);
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"Flood: {m2mp.Count + alip.Count} connected, {m2mp.ConnectResets + alip.ConnectResets} reset while connecting, {m2mp.ConnectTimeouts + alip.ConnectTimeouts} timed out; server holds {server.OpenFiles()} files");

        // Everything over the limit is closed by the server (the identified device holds one place).
        var expectedRefusals = FloodSize - (DeviceLimit - 1);
        int Refused() => m2mp.ClosedByServer() + alip.ClosedByServer() + m2mp.ConnectResets + alip.ConnectResets;
        await Eventually.TrueAsync(
            () => Refused() >= expectedRefusals,
            $"{expectedRefusals} flood connections refused (refused so far: {Refused()}, connects timed out: {m2mp.ConnectTimeouts + alip.ConnectTimeouts})",
            TimeSpan.FromSeconds(60));
        Assert.Equal(0, m2mp.ConnectTimeouts + alip.ConnectTimeouts);
        Assert.InRange(server.OpenFiles(), 0, OpenFilesLimit - 1);

        // HTTP and the identified device work at the limit.
        var health = await http.GetAsync("/health", ct);
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        await device.SendAsync("D T 21.5");
        await device.SendAsync("A 1");
        await device.ReadUntilAsync(l => l == "B 1", TimeSpan.FromSeconds(30));

        // A new device is refused while the flood holds every place...
        LineDevice? late = null;
        try
        {
            late = await LineDevice.ConnectAsync(server.Alip);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            // Refused so fast that the reset arrived before this side saw its connect complete (a loaded machine).
        }
        if (late is not null)
        {
            await using (late)
            {
                try
                {
                    await late.SendAsync("ID imei:990000000002");
                }
                catch (IOException)
                {
                    // Already closed by the server.
                }
                await Eventually.TrueAsync(() => late.IsClosedByServer, "the late device's connection closed by the server", TimeSpan.FromSeconds(30));
                Assert.Empty(late.Received);
            }
        }

        // ...and admitted once it is gone.
        m2mp.Dispose();
        alip.Dispose();
        await using var admitted = await AdmittedAsync(server.Alip, "imei:990000000003", ct);
        await admitted.SendAsync("D T 22.5");
        await admitted.SendAsync("A 7");
        await admitted.ReadUntilAsync(l => l == "B 7", TimeSpan.FromSeconds(30));

        Assert.False(server.HasExited, "The server process died.");
        var log = server.Log;
        Assert.Contains(log, l => l.Contains($"Device connection limit {DeviceLimit}", StringComparison.Ordinal));
        Assert.DoesNotContain(log, l => l.Contains("Out of memory", StringComparison.OrdinalIgnoreCase));
        Assert.Contains(log, l => l.Contains("refused", StringComparison.Ordinal));
    }

    /// <summary>Connects and identifies, trying again while the server is still closing the flood's connections (places free as it sees them close).</summary>
    private static async Task<LineDevice> AdmittedAsync(IPEndPoint endPoint, string ident, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            LineDevice? device = null;
            try
            {
                device = await LineDevice.ConnectAsync(endPoint);
                await device.SendAsync($"ID {ident}");
                while (await device.ReadLineAsync(TimeSpan.FromSeconds(30)) is { } line)
                {
                    if (line == "ID 1")
                    {
                        return device;
                    }
                }
            }
            catch (Exception e) when (e is IOException or SocketException)
            {
                // Refused: the server has not seen every flood connection close yet.
            }
            if (device is not null)
            {
                await device.DisposeAsync();
            }
            Assert.True(DateTime.UtcNow < deadline, "A new device was not admitted within 60 s of the flood's end.");
            await Task.Delay(TimeSpan.FromMilliseconds(500), ct);
        }
    }
}
