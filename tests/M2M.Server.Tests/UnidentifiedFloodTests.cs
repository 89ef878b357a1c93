using M2M.Testing;

namespace M2M.Server.Tests;

/// <summary>
/// Memory amplification before identification: connections that never identify announce 1 MiB M2MP
/// frames and send part of them. The server (a child process, so that its memory is its own) refuses
/// the frames at their header instead of buffering them. The RSS figures are printed for
/// <c>BENCHMARKS.md</c>; the only memory assertion is a generous bound that buffering would break.
/// </summary>
[Collection(ChildServerCollection.Name)]
public sealed class UnidentifiedFloodTests
{
    private const int Connections = 1_000;
    private const int SentPerConnection = 256 * 1024;

    [Fact]
    public async Task Unidentified_connections_announcing_large_frames_are_refused_without_buffering_them()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "Memory is read from /proc.");
        using var data = new TempDirectory("m2m-flood");
        await using var server = await ServerProcess.StartAsync(data.Path, openFilesLimit: null, "--M2M:Ingest:IdentificationTimeout", "00:10:00");
        var output = TestContext.Current.TestOutputHelper;

        // A few identified exchanges first, so that the baseline includes a warmed-up server.
        await using (var device = await LineDevice.IdentifiedAsync(server.Alip, "imei:990000000010"))
        {
            await device.SendAsync("D T 1");
            await device.SendAsync("A 1");
            await device.ReadUntilAsync(l => l == "B 1", TimeSpan.FromSeconds(30));
        }
        var before = server.ResidentBytes();

        // 0x61 = data frame with a 4-byte SIZE: 1 + 4 + SIZE = 1 MiB in total; then part of its body.
        var frame = new byte[5 + SentPerConnection];
        frame[0] = 0x61;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), 1024 * 1024 - 5);
        frame[5] = 0x01;
        using var flood = await Flood.OpenAsync(server.M2mp, Connections);
        Assert.Equal(0, flood.ConnectTimeouts + flood.ConnectResets);
        await flood.SendAsync(frame);
        var during = server.ResidentBytes();

        await Eventually.TrueAsync(
            () => flood.ClosedByServer() == flood.Count,
            $"every connection announcing a 1 MiB frame before identifying is closed (closed: {flood.ClosedByServer()} of {flood.Count})",
            TimeSpan.FromSeconds(60));
        var refused = server.ResidentBytes();
        flood.Dispose();
        await Task.Delay(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        var after = server.ResidentBytes();

        output?.WriteLine($"RSS before {before >> 20} MiB, during the flood {during >> 20} MiB, once refused {refused >> 20} MiB, 30 s after {after >> 20} MiB");
        Assert.False(server.HasExited, "The server process died.");
        // Buffering the bodies would take 250 MiB; the bound leaves room for the connections themselves and GC noise.
        Assert.InRange(during - before, long.MinValue, 128L << 20);
        Assert.Contains(server.Log, l => l.Contains("frame_too_large", StringComparison.Ordinal));
    }
}
