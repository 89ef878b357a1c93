using M2M.Load.Stats;

namespace M2M.Load.Tests;

public sealed class LatencyHistogramTests
{
    [Fact]
    public void An_empty_histogram_reports_zero()
    {
        var h = new LatencyHistogram();
        Assert.Equal(0, h.Count);
        Assert.Equal(0, h.Percentile(50));
        Assert.Equal(0, h.Percentile(99));
        Assert.Equal(0, h.Max);
    }

    [Fact]
    public void Small_values_give_exact_nearest_rank_percentiles()
    {
        var h = new LatencyHistogram();
        for (var v = 1; v <= 100; v++)
        {
            h.Record(v);
        }
        Assert.Equal(100, h.Count);
        Assert.Equal(50, h.Percentile(50));
        Assert.Equal(95, h.Percentile(95));
        Assert.Equal(99, h.Percentile(99));
        Assert.Equal(100, h.Percentile(100));
        Assert.Equal(1, h.Percentile(0));
        Assert.Equal(50.5, h.Mean, 9);
    }

    [Fact]
    public void Percentiles_follow_the_order_of_values_not_of_recording()
    {
        var h = new LatencyHistogram();
        foreach (var v in new long[] { 900, 5, 700, 5, 5, 5, 5, 5, 5, 5 })
        {
            h.Record(v);
        }
        Assert.Equal(5, h.Percentile(50));
        Assert.Equal(5, h.Percentile(80));
        Assert.Equal(700, h.Percentile(90));
        Assert.Equal(900, h.Percentile(99));
        Assert.Equal(900, h.Max);
    }

    [Theory]
    [InlineData(2_048)]
    [InlineData(12_345)]
    [InlineData(987_654)]
    [InlineData(45_000_000)]
    [InlineData(3_000_000_000)]
    public void Large_values_are_within_a_tenth_of_a_percent_below(long value)
    {
        var h = new LatencyHistogram();
        h.Record(value);
        h.Record(1);
        var p = h.Percentile(99); // rank 2 of 2: the larger value
        Assert.InRange(p, value - value / 1000 - 1, value);
        Assert.Equal(value, h.Max);
    }

    [Fact]
    public void Bucket_indexes_are_contiguous_and_their_lowest_values_increase()
    {
        long previous = -1;
        for (var i = 0; i <= LatencyHistogram.IndexOf(LatencyHistogram.MaxTrackable); i++)
        {
            var low = LatencyHistogram.LowestValue(i);
            Assert.True(low > previous, $"bucket {i}");
            Assert.Equal(i, LatencyHistogram.IndexOf(low));
            previous = low;
        }
    }

    [Fact]
    public void Values_beyond_the_range_count_in_the_last_bucket_and_keep_the_true_max()
    {
        var h = new LatencyHistogram();
        h.Record(long.MaxValue / 4);
        h.Record(-5);
        Assert.Equal(2, h.Count);
        Assert.Equal(long.MaxValue / 4, h.Max);
        Assert.Equal(0, h.Percentile(50));
    }

    [Fact]
    public void Merging_adds_counts_and_keeps_the_larger_max()
    {
        var a = new LatencyHistogram();
        var b = new LatencyHistogram();
        for (var i = 0; i < 90; i++)
        {
            a.Record(10);
        }
        for (var i = 0; i < 10; i++)
        {
            b.Record(1000);
        }
        a.Add(b);
        Assert.Equal(100, a.Count);
        Assert.Equal(10, a.Percentile(90));
        Assert.Equal(1000, a.Percentile(91));
        Assert.Equal(1000, a.Max);
    }

    [Fact]
    public void Concurrent_recording_loses_no_value()
    {
        var h = new LatencyHistogram();
        Parallel.For(0, 8, _ =>
        {
            for (var i = 0; i < 10_000; i++)
            {
                h.Record(i % 3000);
            }
        });
        Assert.Equal(80_000, h.Count);
        Assert.Equal(2999, h.Max);
    }
}
