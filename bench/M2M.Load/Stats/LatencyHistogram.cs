using System.Numerics;

namespace M2M.Load.Stats;

/// <summary>
/// Latencies in microseconds in log-linear buckets: exact below 2048 µs, then 1024 buckets per
/// power of two (at most 0.1 % below the true value). Thread-safe, lock-free and allocation-free
/// when recording; memory is fixed whatever the run length.
/// </summary>
public sealed class LatencyHistogram
{
    private const int SubBits = 10;
    private const int SubCount = 1 << SubBits;
    private const int LinearLimit = SubCount * 2;

    /// <summary>Values above this (about 73 minutes) are counted in the last bucket.</summary>
    public const long MaxTrackable = (1L << 32) - 1;

    private readonly long[] _counts = new long[IndexOf(MaxTrackable) + 1];
    private long _count;
    private long _max;
    private long _sum;

    public long Count => Volatile.Read(ref _count);

    /// <summary>The largest value recorded, exact.</summary>
    public long Max => Volatile.Read(ref _max);

    public double Mean => Count == 0 ? 0 : (double)Volatile.Read(ref _sum) / Count;

    public void Record(long microseconds)
    {
        if (microseconds < 0)
        {
            microseconds = 0;
        }
        var index = IndexOf(Math.Min(microseconds, MaxTrackable));
        Interlocked.Increment(ref _counts[index]);
        Interlocked.Increment(ref _count);
        Interlocked.Add(ref _sum, microseconds);
        var max = Volatile.Read(ref _max);
        while (microseconds > max)
        {
            var seen = Interlocked.CompareExchange(ref _max, microseconds, max);
            if (seen == max)
            {
                break;
            }
            max = seen;
        }
    }

    /// <summary>
    /// The nearest-rank percentile: the smallest recorded bucket value v such that at least
    /// <paramref name="percent"/> % of the values are ≤ v (the exact maximum for 100). 0 when empty.
    /// </summary>
    public long Percentile(double percent)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(percent, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(percent, 100);
        var count = Count;
        if (count == 0)
        {
            return 0;
        }
        if (percent >= 100)
        {
            return Max;
        }
        var rank = Math.Max(1, (long)Math.Ceiling(percent / 100 * count));
        long seen = 0;
        for (var i = 0; i < _counts.Length; i++)
        {
            seen += Volatile.Read(ref _counts[i]);
            if (seen >= rank)
            {
                return Math.Min(LowestValue(i), Max);
            }
        }
        return Max;
    }

    /// <summary>Adds every value of <paramref name="other"/> to this histogram.</summary>
    public void Add(LatencyHistogram other)
    {
        for (var i = 0; i < _counts.Length; i++)
        {
            var c = Volatile.Read(ref other._counts[i]);
            if (c != 0)
            {
                Interlocked.Add(ref _counts[i], c);
            }
        }
        Interlocked.Add(ref _count, other.Count);
        Interlocked.Add(ref _sum, Volatile.Read(ref other._sum));
        var max = other.Max;
        if (max > Max)
        {
            Volatile.Write(ref _max, max);
        }
    }

    internal static int IndexOf(long value)
    {
        if (value < LinearLimit)
        {
            return (int)value;
        }
        var msb = 63 - BitOperations.LeadingZeroCount((ulong)value);
        var shift = msb - SubBits;
        return shift * SubCount + (int)(value >> shift);
    }

    internal static long LowestValue(int index)
    {
        if (index < LinearLimit)
        {
            return index;
        }
        var shift = index / SubCount - 1;
        var sub = index - shift * SubCount;
        return (long)sub << shift;
    }
}
