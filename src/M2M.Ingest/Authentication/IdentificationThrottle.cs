using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace M2M.Ingest.Authentication;

/// <summary>
/// Slows down identifications from an address that keeps failing: past
/// <see cref="DeviceAuthOptions.FailuresBeforeDelay"/> refusals within
/// <see cref="DeviceAuthOptions.FailureWindow"/>, each identification from it waits 250 ms, doubling
/// per further failure up to <see cref="DeviceAuthOptions.MaxFailureDelay"/>. IPv6 addresses count
/// per /64 (one host usually owns a whole /64). Memory is bounded by
/// <see cref="DeviceAuthOptions.MaxTrackedAddresses"/>.
/// </summary>
internal sealed class IdentificationThrottle(DeviceAuthOptions options, TimeProvider time)
{
    private static readonly TimeSpan FirstDelay = TimeSpan.FromMilliseconds(250);

    private readonly ConcurrentDictionary<IPAddress, Entry> _entries = new();
    private long _lastPrune;

    /// <summary>Addresses currently remembered.</summary>
    public int Count => _entries.Count;

    /// <summary>How long an identification from <paramref name="address"/> must wait now (zero when it has not failed too often).</summary>
    public TimeSpan DelayFor(IPAddress? address)
    {
        if (address is null || !_entries.TryGetValue(Key(address), out var entry))
        {
            return TimeSpan.Zero;
        }
        var now = time.GetTimestamp();
        lock (entry)
        {
            if (time.GetElapsedTime(entry.WindowStart, now) > options.FailureWindow)
            {
                return TimeSpan.Zero;
            }
            var excess = entry.Failures - options.FailuresBeforeDelay;
            if (excess <= 0)
            {
                return TimeSpan.Zero;
            }
            var delay = FirstDelay * Math.Pow(2, Math.Min(excess - 1, 20));
            return delay < options.MaxFailureDelay ? delay : options.MaxFailureDelay;
        }
    }

    /// <summary>Records a refused identification from <paramref name="address"/>.</summary>
    public void RecordFailure(IPAddress? address)
    {
        if (address is null)
        {
            return;
        }
        var key = Key(address);
        var now = time.GetTimestamp();
        if (!_entries.TryGetValue(key, out var entry))
        {
            if (_entries.Count >= options.MaxTrackedAddresses && !Prune(now))
            {
                // Full of live entries: this address goes untracked (connections stay bounded by MaxConnections).
                return;
            }
            entry = _entries.GetOrAdd(key, static (_, start) => new Entry(start), now);
        }
        lock (entry)
        {
            if (time.GetElapsedTime(entry.WindowStart, now) > options.FailureWindow)
            {
                entry.WindowStart = now;
                entry.Failures = 0;
            }
            entry.Failures++;
        }
    }

    /// <summary>Drops expired entries (at most once a second); <c>true</c> when there is room again.</summary>
    private bool Prune(long now)
    {
        var last = Interlocked.Read(ref _lastPrune);
        if (time.GetElapsedTime(last, now) >= TimeSpan.FromSeconds(1) && Interlocked.CompareExchange(ref _lastPrune, now, last) == last)
        {
            foreach (var (address, entry) in _entries)
            {
                bool expired;
                lock (entry)
                {
                    expired = time.GetElapsedTime(entry.WindowStart, now) > options.FailureWindow;
                }
                if (expired)
                {
                    _entries.TryRemove(new KeyValuePair<IPAddress, Entry>(address, entry));
                }
            }
        }
        return _entries.Count < options.MaxTrackedAddresses;
    }

    /// <summary>IPv4 as is (mapped IPv6 back to IPv4), IPv6 cut to its /64.</summary>
    internal static IPAddress Key(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            return address.MapToIPv4();
        }
        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return address;
        }
        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        bytes[8..].Clear();
        return new IPAddress(bytes);
    }

    private sealed class Entry(long start)
    {
        public long WindowStart = start;
        public int Failures;
    }
}
