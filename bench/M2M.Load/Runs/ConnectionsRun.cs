using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using M2M.Load.Cli;
using M2M.Load.Simulation;
using M2M.Load.Stats;

namespace M2M.Load.Runs;

/// <summary>
/// Opens and identifies C idle connections, measures the server's memory per connection, then
/// optionally runs the load while they stay connected.
/// </summary>
public static class ConnectionsRun
{
    /// <summary>The default spread of source addresses on loopback.</summary>
    public static IReadOnlyList<IPAddress> LoopbackSources => CommandLine.ParseAddressRange("127.0.0.2-127.0.0.254");

    public static async Task<JsonObject> RunAsync(LoadOptions o, IPAddress server, int? serverPid, TextWriter progress, CancellationToken cancel)
    {
        var sources = o.SourceAddressesSet ? o.SourceAddresses : IPAddress.IsLoopback(server) ? LoopbackSources : [];
        var counters = new RunCounters();
        var plan = Fleet.Plan(o, server, DeviceMode.Idle, counters, 0, sources);
        var monitor = new ServerMonitor(serverPid);

        if (serverPid is not null)
        {
            // Let a freshly started server finish its start-up allocations before the baseline.
            await Task.Delay(o.Settle, cancel);
        }
        var rssBefore = monitor.SampleRss();
        var toolRssBefore = Environment.WorkingSet;

        var devices = Fleet.Create(o, plan, o.Connections, o.IdentOffset);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        var running = new List<Task>(devices.Count);
        using var gate = new SemaphoreSlim(o.ConnectConcurrency);
        var started = Stopwatch.GetTimestamp();
        var lastReport = started;
        var stopOpening = false;
        try
        {
            foreach (var device in devices)
            {
                await gate.WaitAsync(cancel);
                running.Add(device.RunAsync(stop.Token));
                _ = device.FirstAttempt.ContinueWith(_ => gate.Release(), TaskScheduler.Default);
                if (!o.Quiet && Stopwatch.GetElapsedTime(lastReport) >= TimeSpan.FromSeconds(1))
                {
                    lastReport = Stopwatch.GetTimestamp();
                    await progress.WriteLineAsync($"[{Stopwatch.GetElapsedTime(started).TotalSeconds,5:0}s] opening: {counters.Connected} identified, {counters.ConnectFailures} failed, server {Report.Mib(monitor.SampleRss())}{(counters.LastError is { } e ? $"  last error: {e}" : "")}");
                }
                if (counters.ConnectFailures > Math.Max(100, o.Connections / 100))
                {
                    // Out of file descriptors or ports: stop opening and measure what was reached.
                    stopOpening = true;
                    break;
                }
            }
            await Task.WhenAll(devices.Take(running.Count).Select(d => d.FirstAttempt)).WaitAsync(o.ConnectTimeout + o.IdentTimeout + TimeSpan.FromSeconds(5), cancel);
        }
        catch (TimeoutException)
        {
        }
        catch (OperationCanceledException)
        {
        }
        var openTime = Stopwatch.GetElapsedTime(started);
        var reached = counters.Connected;
        if (!o.Quiet)
        {
            await progress.WriteLineAsync($"[{openTime.TotalSeconds,5:0}s] {reached} identified connections ({counters.ConnectFailures} failed connects, {counters.IdentRefused} refused); settling {o.Settle.TotalSeconds:0.#} s");
        }

        try
        {
            await Task.Delay(o.Settle, cancel);
        }
        catch (OperationCanceledException)
        {
        }
        var rssAfter = monitor.SampleRss();
        var held = counters.Connected;
        var perConnection = rssBefore is { } b && rssAfter is { } a && held > 0 ? (a - b) / (double)held : (double?)null;

        var result = new JsonObject
        {
            ["command"] = "connections",
            ["protocol"] = o.Protocol.ToString().ToLowerInvariant(),
            ["target"] = o.Connections,
            ["identified"] = held,
            ["stopped_opening_on_errors"] = stopOpening,
            ["source_addresses"] = sources.Count,
            ["open_s"] = Report.Round(openTime.TotalSeconds),
            ["connects_per_s"] = Math.Round(reached / openTime.TotalSeconds),
            ["server"] = new JsonObject
            {
                ["pid"] = serverPid,
                ["rss_before_mib"] = Mib(rssBefore),
                ["rss_after_mib"] = Mib(rssAfter),
                ["bytes_per_connection"] = perConnection is { } p ? Math.Round(p) : null,
                ["kib_per_connection"] = perConnection is { } q ? Math.Round(q / 1024, 2) : null,
            },
            ["tool"] = new JsonObject
            {
                ["rss_before_mib"] = Mib(toolRssBefore),
                ["rss_after_mib"] = Mib(Environment.WorkingSet),
            },
            ["connections"] = Report.Connections(counters),
            ["device"] = Report.Device(counters),
            ["errors"] = Report.Errors(counters),
        };
        if (!o.Quiet)
        {
            await progress.WriteLineAsync($"server memory: {Report.Mib(rssBefore)} → {Report.Mib(rssAfter)} = {(perConnection is { } pc ? $"{pc / 1024:0.00} KiB" : "n/a")} per connection over {held} connections");
        }

        if (o.Hold > TimeSpan.Zero)
        {
            await HoldAsync(o, counters, started, progress, cancel);
        }

        if (o.ThenLoad && !cancel.IsCancellationRequested)
        {
            var load = await DeviceRun.RunAsync(o with { Command = LoadCommand.Load }, DeviceMode.Flat, server, serverPid, o.IdentOffset + o.Connections, progress, cancel);
            load["idle_connected_at_end"] = counters.Connected;
            result["load"] = load;
        }

        stop.Cancel();
        try
        {
            await Task.WhenAll(running).WaitAsync(TimeSpan.FromSeconds(30), CancellationToken.None);
        }
        catch (TimeoutException)
        {
            await progress.WriteLineAsync("warning: some idle connections did not close within 30 s.");
        }
        return result;
    }

    /// <summary>
    /// Keeps the connections for <see cref="LoadOptions.Hold"/>. Devices that lost their connection or
    /// were not identified in time reconnect meanwhile: a progress line reports how many are identified
    /// whenever that changes (at most once a second, and every 30 s regardless), so a script can wait
    /// until a whole fleet is back (<c>bench/fleet-100k.sh</c>).
    /// </summary>
    private static async Task HoldAsync(LoadOptions o, RunCounters counters, long started, TextWriter progress, CancellationToken cancel)
    {
        var until = Stopwatch.GetTimestamp() + (long)(o.Hold.TotalSeconds * Stopwatch.Frequency);
        var reported = counters.Connected;
        var lastReport = Stopwatch.GetTimestamp();
        try
        {
            while (Stopwatch.GetTimestamp() < until)
            {
                var left = TimeSpan.FromSeconds((until - Stopwatch.GetTimestamp()) / (double)Stopwatch.Frequency);
                await Task.Delay(left < TimeSpan.FromSeconds(1) ? left : TimeSpan.FromSeconds(1), cancel);
                var now = counters.Connected;
                if (!o.Quiet && (now != reported || Stopwatch.GetElapsedTime(lastReport) >= TimeSpan.FromSeconds(30)))
                {
                    reported = now;
                    lastReport = Stopwatch.GetTimestamp();
                    await progress.WriteLineAsync($"[{Stopwatch.GetElapsedTime(started).TotalSeconds,5:0}s] holding: {now} identified ({counters.ConnectFailures} failed connects, {counters.IdentRefused} refused)");
                    await progress.FlushAsync(cancel);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static double? Mib(long? bytes) => bytes is { } b ? Math.Round(b / 1048576.0, 1) : null;
}
