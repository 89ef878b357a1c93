using System.Diagnostics;
using System.Globalization;
using System.Net;
using M2M.Api.Http;
using static M2M.Api.Tests.Http;

namespace M2M.Api.Tests;

/// <summary><c>M2M:Api:ServerTiming</c>: the <c>Server-Timing</c> header that lets a benchmark on the same host split its latency.</summary>
public sealed class ServerTimingTests
{
    [Fact]
    public async Task With_server_timing_on_every_answer_carries_the_servers_time_and_its_clock_at_the_start()
    {
        await using var host = await ApiHost.StartAsync("--M2M:Api:ServerTiming", "true");
        var client = await host.LoginAsync();

        foreach (var path in new[] { "/api/devices", "/api/devices/00000000-0000-0000-0000-000000000001", "/health" })
        {
            var sent = ServerTiming.Nanoseconds(Stopwatch.GetTimestamp());
            using var response = await client.GetAsync(path, Ct);
            var received = ServerTiming.Nanoseconds(Stopwatch.GetTimestamp());

            Assert.True(response.Headers.TryGetValues(ServerTiming.HeaderName, out var values), $"{path}: no {ServerTiming.HeaderName} ({(int)response.StatusCode})");
            var value = Assert.Single(values);
            var match = System.Text.RegularExpressions.Regex.Match(value, "^app;dur=([0-9.]+), mono;desc=\"([0-9]+)\"$");
            Assert.True(match.Success, value);
            var durationNs = double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) * 1e6;
            var start = long.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture);
            // One clock for both processes (here one process): the server's work lies within the client's wait.
            Assert.InRange(start, sent, received);
            Assert.InRange(start + durationNs, sent, received + 1000);
        }
    }

    [Fact]
    public async Task A_refused_request_carries_it_too()
    {
        await using var host = await ApiHost.StartAsync("--M2M:Api:ServerTiming", "true");

        using var response = await host.Anonymous.GetAsync("/api/devices", Ct);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.StartsWith("app;dur=", Assert.Single(response.Headers.GetValues(ServerTiming.HeaderName)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task By_default_answers_carry_no_server_timing()
    {
        await using var host = await ApiHost.StartAsync();
        var client = await host.LoginAsync();

        using var response = await client.GetAsync("/api/devices", Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.False(response.Headers.Contains(ServerTiming.HeaderName));
    }

    [Fact]
    public void The_value_gives_milliseconds_to_the_microsecond_and_the_start_in_nanoseconds()
    {
        var start = Stopwatch.GetTimestamp();
        var end = start + (long)(Stopwatch.Frequency * 0.0012344);

        var value = ServerTiming.Format(start, end);

        Assert.Equal($"app;dur=1.234, mono;desc=\"{ServerTiming.Nanoseconds(start)}\"", value);
    }
}
