using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using M2M.Load.Cli;
using M2M.Load.Simulation;
using M2M.Load.Stats;

namespace M2M.Load.Runs;

/// <summary>
/// Runs active devices (simulate or load): ramp-up until every device has tried once, then the
/// measured window with a progress line per second, then a drain of the barriers in flight.
/// </summary>
public static class DeviceRun
{
    private static readonly TimeSpan RampTimeout = TimeSpan.FromSeconds(30);

    public static async Task<JsonObject> RunAsync(
        LoadOptions o, DeviceMode mode, IPAddress server, int? serverPid, int firstIndex, TextWriter progress, CancellationToken cancel)
    {
        var counters = new RunCounters();
        if (o.LatencyLog is not null)
        {
            counters.KeepBarrierLog();
        }
        var plan = Fleet.Plan(o, server, mode, counters, o.Devices, o.SourceAddressesSet ? o.SourceAddresses : []);
        var devices = Fleet.Create(o, plan, o.Devices, firstIndex);
        var monitor = new ServerMonitor(serverPid);
        var rssStart = monitor.SampleRss();

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        var started = Stopwatch.GetTimestamp();
        var running = devices.Select(d => d.RunAsync(stop.Token)).ToArray();

        try
        {
            await Task.WhenAll(devices.Select(d => d.FirstAttempt)).WaitAsync(RampTimeout, cancel);
        }
        catch (TimeoutException)
        {
        }
        catch (OperationCanceledException)
        {
        }
        var ramp = Stopwatch.GetElapsedTime(started);

        // The measured window starts once every device has connected (or failed) once.
        counters.RestartLatency();
        var acked0 = counters.RecordsAcked;
        var sent0 = counters.RecordsSent;
        var window = ServerMonitor.CpuWindow.Start(serverPid);
        var windowStart = Stopwatch.GetTimestamp();
        long lastAcked = acked0, lastSent = sent0;
        var lastTick = windowStart;
        monitor.SampleCpu();
        try
        {
            for (var tick = 1; !cancel.IsCancellationRequested; tick++)
            {
                var target = TimeSpan.FromSeconds(tick);
                var last = o.Duration > TimeSpan.Zero && target >= o.Duration;
                if (last)
                {
                    target = o.Duration;
                }
                for (var wait = target - Stopwatch.GetElapsedTime(windowStart); wait > TimeSpan.Zero; wait = target - Stopwatch.GetElapsedTime(windowStart))
                {
                    await Task.Delay(wait < TimeSpan.FromMilliseconds(1) ? TimeSpan.FromMilliseconds(1) : wait, cancel);
                }

                var now = Stopwatch.GetTimestamp();
                var seconds = Stopwatch.GetElapsedTime(lastTick, now).TotalSeconds;
                var acked = counters.RecordsAcked;
                var sent = counters.RecordsSent;
                var (serverCpu, clientCpu) = monitor.SampleCpu();
                var rss = monitor.SampleRss();
                if (!o.Quiet && seconds > 0.05)
                {
                    await progress.WriteLineAsync(Report.Progress(Stopwatch.GetElapsedTime(windowStart, now), counters, o.Devices,
                        (acked - lastAcked) / seconds, (sent - lastSent) / seconds, rss, serverCpu, clientCpu));
                }
                lastAcked = acked;
                lastSent = sent;
                lastTick = now;
                if (last)
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }

        var measured = Stopwatch.GetElapsedTime(windowStart);
        var ackedInWindow = counters.RecordsAcked - acked0;
        var sentInWindow = counters.RecordsSent - sent0;
        var latency = counters.BarrierLatency;
        var (serverCpuAvg, clientCpuAvg) = window.Stop();
        var rssEnd = monitor.SampleRss();

        stop.Cancel();
        if (o.LatencyLog is not null)
        {
            counters.WriteBarrierLog(o.LatencyLog);
        }
        try
        {
            await Task.WhenAll(running).WaitAsync(plan.DrainTimeout + TimeSpan.FromSeconds(10), CancellationToken.None);
        }
        catch (TimeoutException)
        {
            await progress.WriteLineAsync("warning: some devices did not close within the drain time.");
        }

        return new JsonObject
        {
            ["command"] = CommandLine.CommandName(o.Command),
            ["protocol"] = o.Protocol.ToString().ToLowerInvariant(),
            ["devices"] = o.Devices,
            ["barrier_every"] = o.BarrierEvery,
            ["window"] = mode == DeviceMode.Flat ? o.Window : null,
            ["target_rate"] = o.Rate > 0 ? o.Rate : null,
            ["ramp_s"] = Report.Round(ramp.TotalSeconds),
            ["measured_s"] = Report.Round(measured.TotalSeconds),
            ["records"] = new JsonObject
            {
                ["acked_per_s"] = Math.Round(ackedInWindow / measured.TotalSeconds),
                ["sent_per_s"] = Math.Round(sentInWindow / measured.TotalSeconds),
                ["acked_in_window"] = ackedInWindow,
                ["sent_total"] = counters.RecordsSent,
                ["acked_total"] = counters.RecordsAcked,
                ["resent"] = counters.RecordsResent,
                ["dropped"] = counters.RecordsDropped,
                ["unacked_at_end"] = devices.Sum(d => (long)d.UnackedCount),
            },
            ["barrier_latency"] = Report.Latency(latency),
            ["connections"] = Report.Connections(counters),
            ["device"] = Report.Device(counters),
            ["errors"] = Report.Errors(counters),
            ["server"] = serverPid is null ? null : new JsonObject
            {
                ["pid"] = serverPid,
                ["rss_start_mib"] = Mib(rssStart),
                ["rss_end_mib"] = Mib(rssEnd),
                ["rss_peak_mib"] = Mib(monitor.PeakRss),
                ["cpu_percent"] = serverCpuAvg is { } s ? Math.Round(s) : null,
            },
            ["tool"] = new JsonObject
            {
                ["cpu_percent"] = Math.Round(clientCpuAvg),
                ["rss_mib"] = Mib(Environment.WorkingSet),
            },
        };
    }

    private static double? Mib(long? bytes) => bytes is { } b ? Math.Round(b / 1048576.0, 1) : null;

    /// <summary>Whether a result shows a working run: something identified and, for data runs, something acknowledged.</summary>
    public static bool Succeeded(JsonObject result, bool expectData)
    {
        var identified = result["connections"]?["identified"]?.GetValue<long>() ?? 0;
        var acked = result["records"]?["acked_total"]?.GetValue<long>() ?? 0;
        return identified > 0 && (!expectData || acked > 0);
    }
}
