using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using M2M.Load.Cli;

namespace M2M.Load.Runs;

/// <summary>
/// C connections to the M2MP port that announce large data frames (<c>--frame-size</c> in total)
/// and send part of their body slowly (<c>--send</c> bytes, 8 KiB every <c>--interval</c>), then
/// hold: what an attacker does to make the server buffer memory. Unidentified by default (the
/// server should refuse the frame at its header); with <c>--identify</c> the connections identify
/// first, so the frames are allowed and the server buffers them. Reports the server's RSS before,
/// during, when the server has closed what it refuses, and 10 s, 30 s, 1, 2, 5 and 10 min (up to
/// <c>--after</c>) after the flood ends.
/// </summary>
public static class FloodRun
{
    private const int Chunk = 8 * 1024;

    public static async Task<JsonObject> RunAsync(LoadOptions o, IPAddress server, int? serverPid, TextWriter progress, CancellationToken cancel)
    {
        var sources = o.SourceAddressesSet ? o.SourceAddresses : IPAddress.IsLoopback(server) ? ConnectionsRun.LoopbackSources : [];
        var monitor = new ServerMonitor(serverPid);
        var target = new IPEndPoint(server, o.M2mpPort);
        var rssBefore = monitor.SampleRss();
        var clock = Stopwatch.StartNew();

        var header = new byte[6];
        header[0] = 0x61; // data frame, 4-byte SIZE
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(1), (uint)(o.FrameSize - 5));
        header[5] = 0x01; // channel id
        var body = new byte[Chunk];
        Random.Shared.NextBytes(body);

        var sockets = new Socket?[o.Connections];
        var identified = 0;
        var connectFailures = 0;
        using (var gate = new SemaphoreSlim(o.ConnectConcurrency))
        {
            await Task.WhenAll(Enumerable.Range(0, o.Connections).Select(async i =>
            {
                await gate.WaitAsync(cancel);
                try
                {
                    var socket = new Socket(target.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                    if (sources.Count > 0)
                    {
                        socket.Bind(new IPEndPoint(sources[i % sources.Count], 0));
                    }
                    using var connect = CancellationTokenSource.CreateLinkedTokenSource(cancel);
                    connect.CancelAfter(o.ConnectTimeout);
                    await socket.ConnectAsync(target, connect.Token);
                    if (o.Identify && await IdentifyAsync(socket, $"{o.IdentPrefix}{o.IdentOffset + i:D10}", o.IdentTimeout, cancel))
                    {
                        Interlocked.Increment(ref identified);
                    }
                    sockets[i] = socket;
                }
                catch (Exception e) when (e is SocketException or OperationCanceledException && !cancel.IsCancellationRequested)
                {
                    Interlocked.Increment(ref connectFailures);
                }
                finally
                {
                    gate.Release();
                }
            }));
        }
        var open = sockets.Count(s => s is not null);
        if (!o.Quiet)
        {
            await progress.WriteLineAsync($"[{clock.Elapsed.TotalSeconds,5:0}s] {open} connections{(o.Identify ? $", {identified} identified" : "")}, {connectFailures} failed; sending headers of {o.FrameSize} B frames and {o.Send} B of their bodies");
        }

        // The headers, then the bodies slowly, all connections in step.
        await SendAllAsync(sockets, header, cancel);
        for (var sent = 0; sent < o.Send && !cancel.IsCancellationRequested; sent += Chunk)
        {
            await SendAllAsync(sockets, body.AsMemory(0, Math.Min(Chunk, o.Send - sent)), cancel);
            await Task.Delay(o.Interval, cancel);
        }
        await Task.Delay(o.Settle, cancel);
        var rssDuring = monitor.SampleRss();
        var closedByServer = sockets.Count(IsClosed);
        if (!o.Quiet)
        {
            await progress.WriteLineAsync($"[{clock.Elapsed.TotalSeconds,5:0}s] sent; server {Report.Mib(rssDuring)}; {closedByServer} of {open} connections closed by the server");
        }

        foreach (var socket in sockets)
        {
            socket?.Dispose();
        }
        var after = new JsonObject();
        var waited = TimeSpan.Zero;
        foreach (var mark in new[] { 10, 30, 60, 120, 300, 600 }.Select(s => TimeSpan.FromSeconds(s)).Append(o.After))
        {
            if (mark <= waited || mark > o.After)
            {
                continue;
            }
            await Task.Delay(mark - waited, cancel);
            waited = mark;
            var rss = monitor.SampleRss();
            after[$"{mark.TotalSeconds:0}s"] = Mib(rss);
            if (!o.Quiet)
            {
                await progress.WriteLineAsync($"[{clock.Elapsed.TotalSeconds,5:0}s] {mark.TotalSeconds:0} s after the flood: server {Report.Mib(rss)}");
            }
        }

        return new JsonObject
        {
            ["command"] = "flood",
            ["connections"] = o.Connections,
            ["open"] = open,
            ["connect_failures"] = connectFailures,
            ["identified"] = o.Identify ? identified : null,
            ["frame_size"] = o.FrameSize,
            ["sent_per_connection"] = o.Send,
            ["closed_by_server"] = closedByServer,
            ["server"] = new JsonObject
            {
                ["pid"] = serverPid,
                ["rss_before_mib"] = Mib(rssBefore),
                ["rss_during_mib"] = Mib(rssDuring),
                ["rss_after_mib"] = after,
                ["rss_peak_mib"] = Mib(monitor.PeakRss),
            },
        };
    }

    private static async Task<bool> IdentifyAsync(Socket socket, string ident, TimeSpan timeout, CancellationToken cancel)
    {
        var bytes = Encoding.ASCII.GetBytes(ident);
        await socket.SendAsync((byte[])[0x01, (byte)bytes.Length, .. bytes], SocketFlags.None, cancel);
        // The answer 01 01 comes first; pushes may follow (not read: the flood does not care).
        var answer = new byte[2];
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        wait.CancelAfter(timeout);
        var got = 0;
        while (got < 2)
        {
            var n = await socket.ReceiveAsync(answer.AsMemory(got), SocketFlags.None, wait.Token);
            if (n == 0)
            {
                return false;
            }
            got += n;
        }
        return answer[0] == 0x01 && answer[1] == 0x01;
    }

    private static Task SendAllAsync(Socket?[] sockets, ReadOnlyMemory<byte> bytes, CancellationToken cancel) =>
        Task.WhenAll(sockets.Where(s => s is not null && s.Connected).Select(async socket =>
        {
            try
            {
                await socket!.SendAsync(bytes, SocketFlags.None, cancel);
            }
            catch (SocketException)
            {
                // Closed by the server: counted at the end.
            }
        }));

    private static bool IsClosed(Socket? socket)
    {
        if (socket is null)
        {
            return false;
        }
        try
        {
            return socket.Poll(0, SelectMode.SelectRead) && socket.Available == 0;
        }
        catch (SocketException)
        {
            return true;
        }
    }

    private static double? Mib(long? bytes) => bytes is { } b ? Math.Round(b / 1048576.0, 1) : null;
}
