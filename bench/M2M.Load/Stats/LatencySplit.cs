using System.Globalization;
using System.Text.Json.Nodes;
using M2M.Load.Runs;

namespace M2M.Load.Stats;

/// <summary>
/// Where the time of HTTP requests went, from the server's <c>Server-Timing</c> header
/// (<c>app;dur=&lt;ms&gt;, mono;desc="&lt;ns&gt;"</c>, see the server's <c>M2M:Api:ServerTiming</c>): before the
/// server started the request (the client's send, the network or loopback, the server's transport and
/// queues), the server's own time, after it (the answer's way back up to the client reading its headers),
/// and the body. Only meaningful on the server's host: the split compares the two processes' monotonic clocks.
/// </summary>
public sealed class LatencySplit
{
    /// <summary>Requests kept for the tail's breakdown (the rest are counted in the histograms only).</summary>
    public const int MaxKept = 1_000_000;

    private readonly List<Parts> _kept = [];

    public LatencyHistogram Before { get; } = new();
    public LatencyHistogram Server { get; } = new();
    public LatencyHistogram After { get; } = new();
    public LatencyHistogram Body { get; } = new();

    /// <summary>A <see cref="System.Diagnostics.Stopwatch"/> timestamp in nanoseconds (on Linux the clock is <c>CLOCK_MONOTONIC</c>, as the server's).</summary>
    public static long Nanoseconds(long timestamp) => System.Diagnostics.Stopwatch.Frequency == 1_000_000_000
        ? timestamp
        : (long)(timestamp * (1e9 / System.Diagnostics.Stopwatch.Frequency));

    /// <summary>One request, in microseconds.</summary>
    public readonly record struct Parts(long Total, long Before, long Server, long After, long Body);

    /// <summary>
    /// Records a request sent at <paramref name="sentNs"/>, whose headers arrived at <paramref name="headersNs"/> and
    /// body at <paramref name="doneNs"/> (this process's monotonic clock, ns), with the server's header value.
    /// </summary>
    /// <returns>Whether the header could be read.</returns>
    public bool Record(long sentNs, long headersNs, long doneNs, string? serverTiming)
    {
        if (!TryParse(serverTiming, out var durationMs, out var startNs))
        {
            return false;
        }
        var serverUs = (long)Math.Round(durationMs * 1000);
        var startUs = (startNs - sentNs) / 1000;
        // The duration is rounded to the microsecond: a few nanoseconds of "after" may come out below 0.
        var parts = new Parts(
            Total: (doneNs - sentNs) / 1000,
            Before: Math.Max(0, startUs),
            Server: serverUs,
            After: Math.Max(0, (headersNs - startNs) / 1000 - serverUs),
            Body: (doneNs - headersNs) / 1000);
        Before.Record(parts.Before);
        Server.Record(parts.Server);
        After.Record(parts.After);
        Body.Record(parts.Body);
        lock (_kept)
        {
            if (_kept.Count < MaxKept)
            {
                _kept.Add(parts);
            }
        }
        return true;
    }

    /// <summary>
    /// Reads <c>app;dur=&lt;ms&gt;</c> and <c>mono;desc="&lt;ns&gt;"</c> from a <c>Server-Timing</c> value (other
    /// metrics and parameters are ignored).
    /// </summary>
    public static bool TryParse(string? value, out double durationMs, out long startNs)
    {
        durationMs = double.NaN;
        startNs = long.MinValue;
        if (string.IsNullOrEmpty(value))
        {
            return false;
        }
        foreach (var metric in value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var fields = metric.Split(';', StringSplitOptions.TrimEntries);
            foreach (var field in fields.Skip(1))
            {
                var equals = field.IndexOf('=');
                if (equals <= 0)
                {
                    continue;
                }
                var name = field[..equals];
                var text = field[(equals + 1)..].Trim('"');
                if (fields[0] == "app" && name == "dur"
                    && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && d >= 0)
                {
                    durationMs = d;
                }
                else if (fields[0] == "mono" && name == "desc"
                    && long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var s))
                {
                    startNs = s;
                }
            }
        }
        return !double.IsNaN(durationMs) && startNs != long.MinValue;
    }

    /// <summary>
    /// The medians and 99th percentiles of each part, and the mean parts of the slowest 1 % of requests (by
    /// total time): which part the tail is made of.
    /// </summary>
    public JsonObject ToJson()
    {
        Parts[] kept;
        lock (_kept)
        {
            kept = [.. _kept];
        }
        var slowest = kept.OrderByDescending(p => p.Total).Take(Math.Max(1, kept.Length / 100)).ToArray();
        return new JsonObject
        {
            ["requests"] = Before.Count,
            ["before_server"] = Percentiles(Before),
            ["server"] = Percentiles(Server),
            ["after_server"] = Percentiles(After),
            ["body"] = Percentiles(Body),
            ["slowest_1pct"] = slowest.Length == 0 ? null : new JsonObject
            {
                ["requests"] = slowest.Length,
                ["total_ms"] = MeanMs(slowest, p => p.Total),
                ["before_server_ms"] = MeanMs(slowest, p => p.Before),
                ["server_ms"] = MeanMs(slowest, p => p.Server),
                ["after_server_ms"] = MeanMs(slowest, p => p.After),
                ["body_ms"] = MeanMs(slowest, p => p.Body),
            },
        };

        static JsonObject Percentiles(LatencyHistogram h) => new()
        {
            ["p50_ms"] = Report.Round(h.Percentile(50) / 1000.0),
            ["p99_ms"] = Report.Round(h.Percentile(99) / 1000.0),
        };

        static double MeanMs(Parts[] parts, Func<Parts, long> part) => Report.Round(parts.Average(p => part(p)) / 1000.0);
    }
}
