using System.Collections.Concurrent;

namespace M2M.Ingest.Authentication;

/// <summary>
/// The rate limit of auto-registration: one token bucket per domain on this node, holding at most a
/// minute's worth of creations and refilled continuously at the domain's rate per minute.
/// </summary>
internal sealed class AutoRegistrationLimiter(TimeProvider time)
{
    private readonly ConcurrentDictionary<Guid, Bucket> _buckets = new();

    /// <summary>Takes one creation from <paramref name="domainId"/>'s bucket; <c>false</c> when it is empty. <paramref name="perMinute"/> 0 = no limit.</summary>
    public bool TryAcquire(Guid domainId, int perMinute)
    {
        if (perMinute <= 0)
        {
            return true;
        }
        var now = time.GetTimestamp();
        var bucket = _buckets.GetOrAdd(domainId, static (_, state) => new Bucket(state.perMinute, state.now), (perMinute, now));
        lock (bucket)
        {
            // A changed rate applies at once; the tokens never exceed the new capacity.
            var refill = time.GetElapsedTime(bucket.Last, now).TotalMinutes * perMinute;
            bucket.Tokens = Math.Min(perMinute, bucket.Tokens + refill);
            bucket.Last = now;
            if (bucket.Tokens < 1)
            {
                return false;
            }
            bucket.Tokens -= 1;
            return true;
        }
    }

    private sealed class Bucket(double tokens, long last)
    {
        public double Tokens = tokens;
        public long Last = last;
    }
}
