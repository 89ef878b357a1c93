using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using M2M.Load.Cli;
using M2M.Load.Simulation;
using M2M.Load.Stats;

namespace M2M.Load.Runs;

/// <summary>
/// <c>m2m-load commands</c>: D idle devices that acknowledge commands; commands queued through the
/// HTTP API at a fixed rate to random devices; per command the time to the device's socket, to the
/// acknowledgement event on <c>/api/events</c>, and the POST's response time.
/// </summary>
public static class CommandRun
{
    private static readonly TimeSpan RampTimeout = TimeSpan.FromSeconds(60);

    public static async Task<JsonObject> RunAsync(LoadOptions o, IPAddress server, int? serverPid, TextWriter progress, CancellationToken cancel)
    {
        var planned = (int)Math.Ceiling(o.Rate * o.Duration.TotalSeconds);
        var tracker = new CommandTracker(planned, Convert.ToHexStringLower(Guid.NewGuid().ToByteArray().AsSpan(0, 4)));
        var counters = new RunCounters();
        var plan = Fleet.Plan(o, server, DeviceMode.Idle, counters, o.Devices, o.SourceAddressesSet ? o.SourceAddresses : []);
        plan.CommandReceived = tracker.Received;
        var devices = Fleet.Create(o, plan, o.Devices, o.IdentOffset);
        var monitor = new ServerMonitor(serverPid);
        using var api = await CommandApi.ConnectAsync(o, cancel);

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        var started = Stopwatch.GetTimestamp();
        var running = devices.Select(d => d.RunAsync(stop.Token)).ToArray();
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        string? eventsError = null;
        var events = Task.Run(async () =>
        {
            try
            {
                await api.ReadEventsAsync(tracker.AckSeen, ready, stop.Token);
            }
            catch (Exception e) when (e is IOException or HttpRequestException)
            {
                eventsError = e.Message;
                ready.TrySetResult();
            }
            catch (OperationCanceledException)
            {
            }
        }, CancellationToken.None);

        try
        {
            await Task.WhenAll(devices.Select(d => d.FirstAttempt)).WaitAsync(RampTimeout, cancel);
            await ready.Task.WaitAsync(TimeSpan.FromSeconds(30), cancel);
        }
        catch (TimeoutException)
        {
        }

        // The devices' ids, by ident (they registered at their first identification).
        var ids = new Guid?[devices.Count];
        try
        {
            await Parallel.ForEachAsync(Enumerable.Range(0, devices.Count), new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancel },
                async (i, token) => ids[i] = devices[i].IsIdentified ? await api.DeviceIdAsync(devices[i].Ident, token) : null);
        }
        catch (Exception e) when (e is IOException or HttpRequestException or OperationCanceledException)
        {
            await StopAsync();
            throw e is HttpRequestException ? new IOException($"looking the devices up: {e.Message}", e) : e;
        }
        var targets = Enumerable.Range(0, devices.Count).Where(i => ids[i] is not null).ToArray();
        var ramp = Stopwatch.GetElapsedTime(started);
        if (!o.Quiet)
        {
            await progress.WriteLineAsync($"[ramp {ramp.TotalSeconds:0.0}s] {counters.Connected} of {o.Devices} devices identified, {targets.Length} known to the API; events {(eventsError is null ? "ready" : $"failed: {eventsError}")}; queueing {planned} commands at {o.Rate}/s");
        }

        var window = ServerMonitor.CpuWindow.Start(serverPid);
        var rssStart = monitor.SampleRss();
        var (posted, lagMax, lastApiError, sendTime) = targets.Length == 0
            ? (0, TimeSpan.Zero, "no device is identified and known to the API", TimeSpan.Zero)
            : await SendAsync(o, api, tracker, devices, ids, targets, planned, counters, monitor, progress, cancel);

        // Grace: late deliveries and acknowledgements.
        var graceEnd = Stopwatch.GetTimestamp() + (long)(o.Grace.TotalSeconds * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < graceEnd && !cancel.IsCancellationRequested
            && (tracker.Delivered < posted || (eventsError is null && tracker.Acked < tracker.Delivered)))
        {
            try
            {
                await Task.Delay(20, cancel);
            }
            catch (OperationCanceledException)
            {
            }
        }
        var (serverCpu, toolCpu) = window.Stop();
        var rssEnd = monitor.SampleRss();
        var figures = tracker.Figures(posted);

        // Acknowledgements without an event: does the API show them acknowledged (a missed event) or not?
        var states = new JsonObject();
        foreach (var (device, commandId) in figures.AckMissingIds.Take(100))
        {
            string state;
            try
            {
                state = await api.CommandStateAsync(ids[device]!.Value, commandId, CancellationToken.None) ?? "not found";
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                state = "unreadable";
            }
            states[state] = (states[state]?.GetValue<int>() ?? 0) + 1;
        }
        await StopAsync();

        return new JsonObject
        {
            ["command"] = "commands",
            ["protocol"] = o.Protocol.ToString().ToLowerInvariant(),
            ["devices"] = o.Devices,
            ["devices_targeted"] = targets.Length,
            ["target_rate"] = o.Rate,
            ["ramp_s"] = Report.Round(ramp.TotalSeconds),
            ["send_s"] = Report.Round(sendTime.TotalSeconds),
            ["schedule_lag_max_ms"] = Report.Round(lagMax.TotalMilliseconds),
            ["commands"] = new JsonObject
            {
                ["planned"] = planned,
                ["posted"] = figures.Posted,
                ["not_posted"] = planned - figures.Posted,
                ["posted_per_s"] = sendTime > TimeSpan.Zero ? Math.Round(figures.Posted / sendTime.TotalSeconds, 1) : 0,
                ["api_errors"] = figures.ApiErrors,
                ["delivered_despite_api_error"] = figures.DeliveredDespiteError,
                ["unanswered"] = figures.Unanswered,
                ["delivered"] = figures.Delivery.Count,
                ["acked_seen"] = figures.Ack.Count,
                ["lost"] = figures.Lost,
                ["lost_ids"] = new JsonArray([.. figures.LostIds.Take(10).Select(id => JsonValue.Create(id))]),
                ["ack_missing"] = figures.AckMissing,
                ["ack_missing_states"] = figures.AckMissing > 0 ? states : null,
                ["duplicates"] = tracker.Duplicates,
                ["foreign"] = tracker.Foreign,
            },
            ["delivery_latency"] = Latency(figures.Delivery),
            ["ack_latency"] = eventsError is null ? Latency(figures.Ack) : null,
            ["post_latency"] = Latency(figures.Post),
            ["events_error"] = eventsError,
            ["connections"] = Report.Connections(counters),
            ["device"] = Report.Device(counters),
            ["errors"] = new JsonObject
            {
                ["protocol"] = counters.ProtocolErrors,
                ["server_err"] = counters.ServerErrors,
                ["connect_failed"] = counters.ConnectFailures,
                ["refused"] = counters.IdentRefused,
                ["api"] = figures.ApiErrors,
                ["last"] = counters.LastError,
                ["last_api"] = lastApiError,
            },
            ["server"] = serverPid is null ? null : new JsonObject
            {
                ["pid"] = serverPid,
                ["rss_start_mib"] = Mib(rssStart),
                ["rss_end_mib"] = Mib(rssEnd),
                ["cpu_percent"] = serverCpu is { } s ? Math.Round(s) : null,
            },
            ["tool"] = new JsonObject
            {
                ["cpu_percent"] = Math.Round(toolCpu),
                ["rss_mib"] = Mib(Environment.WorkingSet),
            },
        };

        async Task StopAsync()
        {
            await stop.CancelAsync();
            try
            {
                await Task.WhenAll(running.Append(events)).WaitAsync(plan.DrainTimeout + TimeSpan.FromSeconds(10), CancellationToken.None);
            }
            catch (TimeoutException)
            {
                await progress.WriteLineAsync("warning: some devices did not close within the drain time.");
            }
        }
    }

    /// <summary>Whether the run worked: devices identified and commands delivered.</summary>
    public static bool Succeeded(JsonObject result) =>
        (result["connections"]?["identified"]?.GetValue<long>() ?? 0) > 0
        && (result["commands"]?["delivered"]?.GetValue<long>() ?? 0) > 0;

    /// <summary>Latency figures in milliseconds.</summary>
    public static JsonObject Latency(LatencyHistogram h) => new()
    {
        ["count"] = h.Count,
        ["p50_ms"] = Report.Round(h.Percentile(50) / 1000.0),
        ["p95_ms"] = Report.Round(h.Percentile(95) / 1000.0),
        ["p99_ms"] = Report.Round(h.Percentile(99) / 1000.0),
        ["max_ms"] = Report.Round(h.Max / 1000.0),
        ["mean_ms"] = Report.Round(h.Mean / 1000.0),
    };

    /// <summary>
    /// Posts command i at start + i / rate (open loop: a slow answer does not delay the next command,
    /// up to --api-concurrency calls in flight; past that the schedule lags, and the lag is reported)
    /// until --duration is over: when the API cannot keep the rate, fewer commands are posted.
    /// </summary>
    private static async Task<(int Posted, TimeSpan LagMax, string? LastError, TimeSpan SendTime)> SendAsync(
        LoadOptions o, CommandApi api, CommandTracker tracker, List<SimulatedDevice> devices, Guid?[] ids, int[] targets, int planned,
        RunCounters counters, ServerMonitor monitor, TextWriter progress, CancellationToken cancel)
    {
        var random = new Random(planned ^ targets.Length);
        using var slots = new SemaphoreSlim(o.ApiConcurrency);
        var inFlight = new List<Task>(planned);
        string? lastError = null;
        var lagMax = TimeSpan.Zero;
        var start = Stopwatch.GetTimestamp();
        var nextReport = 1;
        var posted = 0;
        try
        {
            var end = start + (long)(o.Duration.TotalSeconds * Stopwatch.Frequency);
            for (; posted < planned && Stopwatch.GetTimestamp() < end; posted++)
            {
                var due = start + (long)(posted / o.Rate * Stopwatch.Frequency);
                var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
                if (wait > TimeSpan.FromMilliseconds(1))
                {
                    await Task.Delay(wait, cancel);
                }
                await slots.WaitAsync(cancel);
                var now = Stopwatch.GetTimestamp();
                if (now >= end)
                {
                    slots.Release();
                    break;
                }
                var lag = Stopwatch.GetElapsedTime(due, now);
                if (lag > lagMax)
                {
                    lagMax = lag;
                }
                var device = targets[random.Next(targets.Length)];
                var sequence = posted;
                tracker.Posting(sequence, device, now);
                inFlight.Add(PostOneAsync(sequence, ids[device]!.Value));

                if (!o.Quiet && Stopwatch.GetElapsedTime(start, now) >= TimeSpan.FromSeconds(nextReport))
                {
                    nextReport++;
                    var (serverCpu, toolCpu) = monitor.SampleCpu();
                    await progress.WriteLineAsync(
                        $"[{Stopwatch.GetElapsedTime(start).TotalSeconds,5:0}s] conn {counters.Connected}/{devices.Count}  posted {posted + 1}  delivered {tracker.Delivered}  acked {tracker.Acked}  lag {lag.TotalMilliseconds:0} ms  server cpu {(serverCpu is { } c ? $"{c:0}%" : "n/a")}  tool cpu {toolCpu:0}%");
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        var sendTime = Stopwatch.GetElapsedTime(start);
        await Task.WhenAll(inFlight);
        return (posted, lagMax, lastError, sendTime);

        async Task PostOneAsync(int sequence, Guid device)
        {
            await Task.Yield();
            string? id = null;
            try
            {
                (id, var error) = await api.PostCommandAsync(device, tracker.Text(sequence), CancellationToken.None);
                if (error is not null)
                {
                    lastError = error;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
            {
                lastError = $"POST command: {e.Message}";
            }
            finally
            {
                tracker.Answered(sequence, id, Stopwatch.GetTimestamp());
                slots.Release();
            }
        }
    }

    private static double? Mib(long? bytes) => bytes is { } b ? Math.Round(b / 1048576.0, 1) : null;
}
