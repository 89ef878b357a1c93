using M2M.Load.Stats;

namespace M2M.Load.Tests;

public sealed class LatencySplitTests
{
    [Theory]
    [InlineData("app;dur=0.412, mono;desc=\"123456789\"", 0.412, 123456789L)]
    [InlineData("mono;desc=\"5\",app;dur=12", 12.0, 5L)]
    [InlineData("cache;desc=hit, app;dur=1.5;desc=\"x\", mono;desc=77", 1.5, 77L)]
    public void The_servers_time_and_start_are_read_whatever_the_order_and_other_metrics(string value, double duration, long start)
    {
        Assert.True(LatencySplit.TryParse(value, out var d, out var s));
        Assert.Equal(duration, d);
        Assert.Equal(start, s);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("app;dur=0.4")]
    [InlineData("mono;desc=\"12\"")]
    [InlineData("app;dur=-1, mono;desc=\"12\"")]
    [InlineData("app;dur=abc, mono;desc=\"12\"")]
    [InlineData("app;dur=1, mono;desc=\"1.5\"")]
    [InlineData("app, mono")]
    public void A_value_without_both_parts_is_not_read(string? value)
    {
        Assert.False(LatencySplit.TryParse(value, out _, out _));
    }

    [Fact]
    public void A_request_is_split_into_before_server_after_and_body()
    {
        var split = new LatencySplit();
        // Sent at 1 ms; the server started at 4 ms and worked 0.5 ms; headers at 6 ms; body at 6.2 ms.
        Assert.True(split.Record(1_000_000, 6_000_000, 6_200_000, "app;dur=0.5, mono;desc=\"4000000\""));

        Assert.Equal(3_000, split.Before.Max);
        Assert.Equal(500, split.Server.Max);
        Assert.Equal(1_500, split.After.Max);
        Assert.Equal(200, split.Body.Max);
        var json = split.ToJson();
        Assert.Equal(1, json["requests"]!.GetValue<long>());
        Assert.Equal(5.2, json["slowest_1pct"]!["total_ms"]!.GetValue<double>());
        Assert.Equal(3.0, json["slowest_1pct"]!["before_server_ms"]!.GetValue<double>());
        Assert.Equal(1.5, json["slowest_1pct"]!["after_server_ms"]!.GetValue<double>());
    }

    [Fact]
    public void The_tail_breakdown_averages_the_slowest_hundredth()
    {
        var split = new LatencySplit();
        for (var i = 0; i < 198; i++)
        {
            split.Record(0, 1_000_000, 1_000_000, "app;dur=0.5, mono;desc=\"250000\"");
        }
        // The two slowest: one waited 9 ms before the server, one 19 ms after it.
        split.Record(0, 10_000_000, 10_000_000, "app;dur=0.5, mono;desc=\"9000000\"");
        split.Record(0, 20_000_000, 20_000_000, "app;dur=0.5, mono;desc=\"500000\"");

        var slowest = split.ToJson()["slowest_1pct"]!;

        Assert.Equal(2, slowest["requests"]!.GetValue<int>());
        Assert.Equal(15.0, slowest["total_ms"]!.GetValue<double>());
        Assert.Equal(4.75, slowest["before_server_ms"]!.GetValue<double>());
        Assert.Equal(9.75, slowest["after_server_ms"]!.GetValue<double>());
        Assert.Equal(0.5, slowest["server_ms"]!.GetValue<double>());
    }

    [Fact]
    public void Answers_without_the_header_are_not_counted()
    {
        var split = new LatencySplit();

        Assert.False(split.Record(0, 1_000, 2_000, null));

        Assert.Equal(0, split.Before.Count);
    }
}
