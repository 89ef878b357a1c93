using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using M2M.Load.Stats;

namespace M2M.Load.Runs;

/// <summary>Formatting of progress lines, summaries and JSON results.</summary>
public static class Report
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static string Json(JsonObject result) => result.ToJsonString(Indented);

    public static string Mib(long? bytes) => bytes is { } b ? (b / 1048576.0).ToString("0.0", CultureInfo.InvariantCulture) + " MiB" : "n/a";

    public static string Ms(long microseconds) => (microseconds / 1000.0).ToString("0.00", CultureInfo.InvariantCulture) + " ms";

    public static string Count(double value) => value.ToString("#,0", CultureInfo.InvariantCulture);

    public static string Percent(double? value) => value is { } v ? v.ToString("0", CultureInfo.InvariantCulture) + "%" : "n/a";

    /// <summary>The latency block of a result, in milliseconds.</summary>
    public static JsonObject Latency(LatencyHistogram h) => new()
    {
        ["barriers"] = h.Count,
        ["p50_ms"] = Round(h.Percentile(50) / 1000.0),
        ["p95_ms"] = Round(h.Percentile(95) / 1000.0),
        ["p99_ms"] = Round(h.Percentile(99) / 1000.0),
        ["max_ms"] = Round(h.Max / 1000.0),
        ["mean_ms"] = Round(h.Mean / 1000.0),
    };

    public static JsonObject Connections(RunCounters c) => new()
    {
        ["attempts"] = c.ConnectAttempts,
        ["established"] = c.ConnectionsEstablished,
        ["failed"] = c.ConnectFailures,
        ["identified"] = c.Identified,
        ["refused"] = c.IdentRefused,
        ["disconnected_by_server"] = c.Disconnects,
        ["connected"] = c.Connected,
    };

    public static JsonObject Errors(RunCounters c) => new()
    {
        ["protocol"] = c.ProtocolErrors,
        ["server_err"] = c.ServerErrors,
        ["connect_failed"] = c.ConnectFailures,
        ["refused"] = c.IdentRefused,
        ["last"] = c.LastError,
    };

    public static JsonObject Device(RunCounters c) => new()
    {
        ["settings_acked"] = c.SettingsAcked,
        ["commands_acked"] = c.CommandsAcked,
        ["status_reported"] = c.StatusReported,
        ["server_pings"] = c.ServerPings,
    };

    public static double Round(double value) => Math.Round(value, 3);

    /// <summary>One live progress line.</summary>
    public static string Progress(TimeSpan elapsed, RunCounters c, int devices, double ackedPerSecond, double sentPerSecond, long? serverRss, double? serverCpu, double clientCpu)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"[{elapsed.TotalSeconds,5:0}s] conn {c.Connected}/{devices}");
        sb.Append(CultureInfo.InvariantCulture, $"  acked {Count(ackedPerSecond)} rec/s  sent {Count(sentPerSecond)} rec/s");
        var h = c.BarrierLatency;
        if (h.Count > 0)
        {
            sb.Append(CultureInfo.InvariantCulture, $"  barrier p50 {Ms(h.Percentile(50))} p99 {Ms(h.Percentile(99))}");
        }
        sb.Append(CultureInfo.InvariantCulture, $"  errors {c.Errors}  reconnects {Math.Max(0, c.ConnectAttempts - devices)}");
        if (serverRss is not null)
        {
            sb.Append(CultureInfo.InvariantCulture, $"  server {Mib(serverRss)} cpu {Percent(serverCpu)}");
        }
        sb.Append(CultureInfo.InvariantCulture, $"  tool cpu {Percent(clientCpu)}");
        return sb.ToString();
    }

    /// <summary>A readable summary of a result object (flattened keys).</summary>
    public static string Text(JsonObject result)
    {
        var sb = new StringBuilder();
        Append(sb, result, "");
        return sb.ToString();

        static void Append(StringBuilder sb, JsonObject obj, string indent)
        {
            foreach (var (name, value) in obj)
            {
                switch (value)
                {
                    case JsonObject child:
                        sb.Append(indent).Append(name).AppendLine(":");
                        Append(sb, child, indent + "  ");
                        break;
                    case null:
                        break;
                    default:
                        sb.Append(indent).Append(name).Append(": ").AppendLine(value.ToJsonString().Trim('"'));
                        break;
                }
            }
        }
    }
}
