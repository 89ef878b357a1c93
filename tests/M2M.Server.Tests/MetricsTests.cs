using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using M2M.Ingest.Hosting;

namespace M2M.Server.Tests;

/// <summary>
/// The opt-in Prometheus endpoint <c>/metrics</c> of the started server: absent unless configured,
/// refused outside the allowed networks, and when scraped after real device traffic, valid
/// Prometheus text carrying the ingest and writer metrics.
/// </summary>
public partial class MetricsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Metrics_endpoint_is_absent_unless_configured()
    {
        await using var host = await ServerHost.StartAsync();

        var response = await host.Http.GetAsync("/metrics", Ct);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task Metrics_are_refused_outside_the_allowed_networks()
    {
        await using var host = await ServerHost.StartAsync("--M2M:Metrics:Prometheus", "true", "--M2M:Metrics:AllowedNetworks", "10.0.0.0/8, 192.168.0.0/16");

        var response = await host.Http.GetAsync("/metrics", Ct);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.DoesNotContain("# TYPE", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    [Fact]
    public void A_malformed_allowed_network_stops_the_start()
    {
        var error = Assert.Throws<FormatException>(() => M2MServer.Build(
            ["--urls", "http://127.0.0.1:0", "--M2M:Metrics:Prometheus", "true", "--M2M:Metrics:AllowedNetworks", "10.0.0.0/8,everyone"]));

        Assert.Contains("everyone", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Scrape_after_device_traffic_is_valid_prometheus_text_with_ingest_and_writer_metrics()
    {
        await using var host = await ServerHost.StartAsync("--M2M:Metrics:Prometheus", "true");
        const int records = 25;
        await SendRecordsAsync(host, records);

        // The exporter reads the instruments when scraped; wait for the writer's count to show every record.
        string text;
        Dictionary<string, List<Sample>> samples;
        var deadline = DateTimeOffset.UtcNow.AddSeconds(30);
        do
        {
            var response = await host.Http.GetAsync("/metrics", Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
            text = await response.Content.ReadAsStringAsync(Ct);
            samples = Parse(text);
        }
        while (Total(samples, "m2m_storage_records_written_total") < records && DateTimeOffset.UtcNow < deadline);

        Assert.True(Total(samples, "m2m_storage_records_written_total") >= records, text);
        Assert.True(Total(samples, "m2m_storage_commit_duration_seconds_count") >= 1, "no commit duration");
        Assert.True(samples.ContainsKey("m2m_storage_queue_length"), "no writer queue length");
        Assert.True(Total(samples, "m2m_ingest_records_published_total") >= records, "no ingest records");
        Assert.Contains(samples["m2m_ingest_messages_in_total"], s => s.Labels.GetValueOrDefault("protocol") == "alip" && s.Value >= records);
        Assert.True(Total(samples, "m2m_ingest_identifications_total") >= 1, "no identification");
    }

    private static async Task SendRecordsAsync(ServerHost host, int count)
    {
        var endpoints = host.App.Services.GetRequiredService<IngestEndpoints>();
        await endpoints.Started.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, endpoints.Alip!.Port, Ct);
        var stream = client.GetStream();
        using var reader = new StreamReader(stream, Encoding.ASCII);
        var lines = new StringBuilder($"ID imei:{Random.Shared.NextInt64(100_000_000_000, 999_999_999_999)}\n");
        for (var i = 0; i < count; i++)
        {
            lines.Append(CultureInfo.InvariantCulture, $"D T {20 + (i * 0.1):F1}\n");
        }
        lines.Append("A 7\n");
        await stream.WriteAsync(Encoding.ASCII.GetBytes(lines.ToString()), Ct);

        // "B 7" comes once every record before it is stored (the delivery barrier).
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        while (await reader.ReadLineAsync(timeout.Token) is { } line)
        {
            Assert.DoesNotMatch("^(ERR|ID 0)", line);
            if (line == "B 7")
            {
                return;
            }
        }
        Assert.Fail("the connection closed before the barrier was answered");
    }

    private static double Total(Dictionary<string, List<Sample>> samples, string name)
        => samples.TryGetValue(name, out var list) ? list.Sum(s => s.Value) : 0;

    private sealed record Sample(Dictionary<string, string> Labels, double Value);

    // Text exposition format 0.0.4: '# HELP name text', '# TYPE name type', other '#' comments, blank
    // lines, and samples 'name{label="value",…} value [timestamp]' (label values escape \\, \" and \n).
    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>.*)\})? (?<value>\S+)( (?<ts>-?\d+))?$")]
    private static partial Regex SampleLine();

    [GeneratedRegex(@"^# (HELP|TYPE) (?<name>[a-zA-Z_:][a-zA-Z0-9_:]*) (?<rest>.*)$")]
    private static partial Regex MetaLine();

    [GeneratedRegex(@"\G(?<name>[a-zA-Z_][a-zA-Z0-9_]*)=""(?<value>(?:[^""\\\n]|\\[\\""n])*)""(,|$)")]
    private static partial Regex Label();

    /// <summary>Parses the whole scrape, failing on any line that is neither a valid sample nor a valid comment.</summary>
    private static Dictionary<string, List<Sample>> Parse(string text)
    {
        var types = new Dictionary<string, string>(StringComparer.Ordinal);
        var samples = new Dictionary<string, List<Sample>>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0)
            {
                continue;
            }
            if (line.StartsWith('#'))
            {
                var meta = MetaLine().Match(line);
                if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
                {
                    Assert.True(meta.Success, $"bad TYPE line: {line}");
                    Assert.Contains(meta.Groups["rest"].Value, (string[])["counter", "gauge", "histogram", "summary", "untyped"]);
                    Assert.True(types.TryAdd(meta.Groups["name"].Value, meta.Groups["rest"].Value), $"second TYPE for {meta.Groups["name"].Value}");
                }
                else if (line.StartsWith("# HELP ", StringComparison.Ordinal))
                {
                    Assert.True(meta.Success, $"bad HELP line: {line}");
                }
                continue;
            }
            var match = SampleLine().Match(line);
            Assert.True(match.Success, $"not a sample: {line}");
            var labels = new Dictionary<string, string>(StringComparer.Ordinal);
            var labelText = match.Groups["labels"].Value;
            var at = 0;
            while (at < labelText.Length)
            {
                var label = Label().Match(labelText, at);
                Assert.True(label.Success, $"bad labels at {at}: {line}");
                Assert.True(labels.TryAdd(label.Groups["name"].Value, label.Groups["value"].Value), $"repeated label: {line}");
                at += label.Length;
            }
            var valueText = match.Groups["value"].Value;
            var value = valueText switch
            {
                "+Inf" => double.PositiveInfinity,
                "-Inf" => double.NegativeInfinity,
                "NaN" => double.NaN,
                _ => double.Parse(valueText, NumberStyles.Float, CultureInfo.InvariantCulture),
            };
            var name = match.Groups["name"].Value;
            var family = FamilyOf(name, types);
            Assert.True(family is not null, $"sample before the TYPE of its family: {line}");
            if (types[family] == "histogram" && name.EndsWith("_bucket", StringComparison.Ordinal))
            {
                Assert.True(labels.ContainsKey("le"), $"bucket without le: {line}");
            }
            (samples.TryGetValue(name, out var list) ? list : samples[name] = []).Add(new Sample(labels, value));
        }
        Assert.NotEmpty(samples);
        return samples;
    }

    /// <summary>The declared family of a sample: its own name, or for a histogram/summary the name without _bucket, _sum, _count.</summary>
    private static string? FamilyOf(string name, Dictionary<string, string> types)
    {
        if (types.ContainsKey(name))
        {
            return name;
        }
        foreach (var suffix in (string[])["_bucket", "_sum", "_count"])
        {
            if (name.EndsWith(suffix, StringComparison.Ordinal) && types.TryGetValue(name[..^suffix.Length], out var type) && type is "histogram" or "summary")
            {
                return name[..^suffix.Length];
            }
        }
        return null;
    }
}
