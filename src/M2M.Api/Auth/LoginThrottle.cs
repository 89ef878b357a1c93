using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;

namespace M2M.Api.Auth;

/// <summary>
/// Slows down password guessing without locking the real user out. Three counters of failed
/// logins, each forgotten after <see cref="ApiOptions.LoginWindow"/> without a new failure, and
/// each answering with an exponential delay (1 s, 2 s, 4 s… up to <see cref="ApiOptions.LoginMaxDelay"/>)
/// once past its allowance, never with a lock:
/// <list type="bullet">
/// <item>per (user, address): <see cref="ApiOptions.LoginFreeFailures"/> free failures, then delays
/// — the flooding address is slowed, the same user from another address is not;</item>
/// <item>per address, over every user: <see cref="ApiOptions.LoginAddressFreeFailures"/> — one address
/// spraying many names; a user who signed in from that address before passes it;</item>
/// <item>per user, over every address: <see cref="ApiOptions.LoginUserAttackFailures"/> — distributed
/// guessing of one account; again addresses the user signed in from before pass it, other
/// addresses share the delay (the trade-off: during such an attack the real user may have to wait
/// at an address they never used).</item>
/// </list>
/// An admitted attempt counts as a failure until <see cref="Succeeded"/> takes it back, so concurrent
/// attempts cannot slip past a counter. IPv6 addresses count per /64 (what one host usually holds).
/// Memory is bounded: each of the three tables holds at most <see cref="ApiOptions.LoginMaxTrackedKeys"/>
/// entries; past that, idle entries go first, then those that delay nobody yet, then the least
/// recently active.
/// </summary>
public sealed class LoginThrottle(IOptions<ApiOptions> options, TimeProvider time)
{
    /// <summary>The first delay; each further failure doubles it.</summary>
    public static readonly TimeSpan BaseDelay = TimeSpan.FromSeconds(1);

    /// <summary>Addresses remembered per user as trusted (the most recent successful sign-ins).</summary>
    internal const int TrustedAddressesPerUser = 4;

    /// <summary>Longest user name kept as a key (longer ones cannot be real names; they are cut).</summary>
    private const int MaxUserKeyLength = 64;

    private readonly Lock _gate = new();
    private readonly Dictionary<string, Counter> _pairs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Counter> _addresses = new(StringComparer.Ordinal);
    private readonly Dictionary<string, UserEntry> _users = new(StringComparer.Ordinal);

    /// <summary>Entries held in the three tables (for tests of the memory bound).</summary>
    internal int TrackedKeys
    {
        get
        {
            lock (_gate)
            {
                return _pairs.Count + _addresses.Count + _users.Count;
            }
        }
    }

    /// <summary>
    /// Admits an attempt of <paramref name="user"/> from <paramref name="address"/> (counting it as a
    /// failure until <see cref="Succeeded"/>), or returns how long the caller must wait.
    /// </summary>
    public TimeSpan? TryBegin(string user, IPAddress? address)
    {
        var o = options.Value;
        var now = time.GetUtcNow();
        var userKey = UserKey(user);
        var addressKey = AddressKey(address);
        var pairKey = userKey + "\n" + addressKey;
        lock (_gate)
        {
            _pairs.TryGetValue(pairKey, out var pair);
            _addresses.TryGetValue(addressKey, out var byAddress);
            _users.TryGetValue(userKey, out var byUser);
            var trusted = byUser is not null && byUser.Trusts(addressKey, now, o.LoginTrustedAddressLifetime);

            var until = Max(
                pair?.AllowedAt(now, o.LoginFreeFailures, o),
                trusted ? null : byAddress?.AllowedAt(now, o.LoginAddressFreeFailures, o),
                trusted ? null : byUser?.Failures.AllowedAt(now, o.LoginUserAttackFailures, o));
            if (until is { } at && at > now)
            {
                // A refused attempt keeps its entries recent, so a flood elsewhere does not evict them.
                pair?.Touch(now);
                byAddress?.Touch(now);
                byUser?.Failures.Touch(now);
                var wait = at - now;
                return wait > BaseDelay ? wait : BaseDelay;
            }

            (pair ?? Add(_pairs, pairKey, new Counter(), now, o, o.LoginFreeFailures)).Fail(now, o.LoginWindow);
            (byAddress ?? Add(_addresses, addressKey, new Counter(), now, o, o.LoginAddressFreeFailures)).Fail(now, o.LoginWindow);
            (byUser ?? Add(_users, userKey, new UserEntry(), now, o, o.LoginUserAttackFailures)).Failures.Fail(now, o.LoginWindow);
            return null;
        }
    }

    /// <summary>
    /// The attempt admitted by <see cref="TryBegin"/> had the right password: its failure is taken
    /// back, the (user, address) failures are forgotten and the address becomes trusted for the user.
    /// </summary>
    public void Succeeded(string user, IPAddress? address)
    {
        var o = options.Value;
        var now = time.GetUtcNow();
        var userKey = UserKey(user);
        var addressKey = AddressKey(address);
        lock (_gate)
        {
            _pairs.Remove(userKey + "\n" + addressKey);
            if (_addresses.TryGetValue(addressKey, out var byAddress))
            {
                byAddress.Undo();
            }
            var byUser = _users.TryGetValue(userKey, out var found) ? found : Add(_users, userKey, new UserEntry(), now, o, o.LoginUserAttackFailures);
            byUser.Failures.Undo();
            byUser.Trust(addressKey, now);
        }
    }

    /// <summary>User names compare case-insensitively; overlong ones are cut (they cannot exist, but still count).</summary>
    internal static string UserKey(string user)
    {
        var cut = user.Length > MaxUserKeyLength ? user[..MaxUserKeyLength] : user;
        return cut.ToLowerInvariant();
    }

    /// <summary>IPv4 as is (also when mapped into IPv6); IPv6 by its /64 prefix.</summary>
    internal static string AddressKey(IPAddress? address)
    {
        if (address is null)
        {
            return "unknown";
        }
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }
        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return address.ToString();
        }
        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        bytes[8..].Clear();
        return new IPAddress(bytes).ToString() + "/64";
    }

    private static DateTimeOffset? Max(DateTimeOffset? a, DateTimeOffset? b, DateTimeOffset? c)
    {
        var max = a;
        if (b is not null && (max is null || b > max))
        {
            max = b;
        }
        if (c is not null && (max is null || c > max))
        {
            max = c;
        }
        return max;
    }

    private static T Add<T>(Dictionary<string, T> table, string key, T entry, DateTimeOffset now, ApiOptions o, int free) where T : IEntry
    {
        if (table.Count >= o.LoginMaxTrackedKeys)
        {
            Evict(table, now, o, free);
        }
        table[key] = entry;
        return entry;
    }

    /// <summary>
    /// Makes room in a full table until a quarter of it is free (so evictions are rare and their cost
    /// is spread over many insertions): first the idle entries, then those that delay nobody yet
    /// (fewer than <paramref name="free"/> failures: losing one gives back at most that allowance —
    /// this is what a flood of random names fills the table with), last the least recently active.
    /// </summary>
    private static void Evict<T>(Dictionary<string, T> table, DateTimeOffset now, ApiOptions o, int free) where T : IEntry
    {
        var target = o.LoginMaxTrackedKeys - Math.Max(1, o.LoginMaxTrackedKeys / 4);
        foreach (var (key, entry) in table)
        {
            if (entry.IsIdle(now, o))
            {
                table.Remove(key);
            }
        }
        foreach (var (key, entry) in table)
        {
            if (table.Count <= target)
            {
                return;
            }
            if (!entry.IsInformative(free))
            {
                table.Remove(key);
            }
        }
        if (table.Count <= target)
        {
            return;
        }
        var times = new long[table.Count];
        var i = 0;
        foreach (var entry in table.Values)
        {
            times[i++] = entry.LastActive.UtcTicks;
        }
        Array.Sort(times);
        var cutoff = times[table.Count - target - 1];
        foreach (var (key, entry) in table)
        {
            if (entry.LastActive.UtcTicks <= cutoff)
            {
                table.Remove(key);
            }
        }
    }

    private interface IEntry
    {
        DateTimeOffset LastActive { get; }

        bool IsIdle(DateTimeOffset now, ApiOptions o);

        /// <summary>Whether forgetting the entry would give something back to an attacker or take it from the real user.</summary>
        bool IsInformative(int free);
    }

    /// <summary>Failures since the counter was last idle for a whole window, and the time of the last one.</summary>
    private sealed class Counter : IEntry
    {
        private int _failures;
        private DateTimeOffset _last;
        private DateTimeOffset _seen;

        public DateTimeOffset LastActive => _seen > _last ? _seen : _last;

        public bool IsIdle(DateTimeOffset now, ApiOptions o) => _failures == 0 || now - _last >= o.LoginWindow;

        public bool IsInformative(int free) => _failures >= free;

        /// <summary>Notes a refused attempt (it changes no delay).</summary>
        public void Touch(DateTimeOffset now) => _seen = now;

        /// <summary>When the next attempt may be admitted (<c>null</c>: now), given <paramref name="free"/> failures without delay.</summary>
        public DateTimeOffset? AllowedAt(DateTimeOffset now, int free, ApiOptions o)
        {
            if (IsIdle(now, o) || _failures < free)
            {
                return null;
            }
            return _last + Delay(_failures - free, o.LoginMaxDelay);
        }

        public void Fail(DateTimeOffset now, TimeSpan window)
        {
            if (now - _last >= window)
            {
                _failures = 0;
            }
            // Capped so the count cannot overflow under an endless flood; the delay is long capped by then.
            if (_failures < 1_000_000)
            {
                _failures++;
            }
            _last = now;
        }

        public void Undo()
        {
            if (_failures > 0)
            {
                _failures--;
            }
        }

        private static TimeSpan Delay(int excess, TimeSpan max)
        {
            // 2^excess seconds, computed without overflow: past 2^30 s every cap is reached.
            var seconds = excess >= 30 ? double.MaxValue : Math.Pow(2, excess) * BaseDelay.TotalSeconds;
            return seconds >= max.TotalSeconds ? max : TimeSpan.FromSeconds(seconds);
        }
    }

    /// <summary>A user's failures over every address and the addresses the user recently signed in from.</summary>
    private sealed class UserEntry : IEntry
    {
        private readonly List<(string Address, DateTimeOffset At)> _trusted = [];

        public Counter Failures { get; } = new();

        public DateTimeOffset LastActive
        {
            get
            {
                var last = Failures.LastActive;
                foreach (var (_, at) in _trusted)
                {
                    if (at > last)
                    {
                        last = at;
                    }
                }
                return last;
            }
        }

        public bool IsIdle(DateTimeOffset now, ApiOptions o)
            => Failures.IsIdle(now, o) && _trusted.TrueForAll(t => now - t.At >= o.LoginTrustedAddressLifetime);

        public bool IsInformative(int free) => _trusted.Count > 0 || Failures.IsInformative(free);

        public bool Trusts(string address, DateTimeOffset now, TimeSpan lifetime)
            => _trusted.Exists(t => t.Address == address && now - t.At < lifetime);

        public void Trust(string address, DateTimeOffset now)
        {
            _trusted.RemoveAll(t => t.Address == address);
            if (_trusted.Count >= TrustedAddressesPerUser)
            {
                // Forget the address used longest ago.
                var oldest = 0;
                for (var i = 1; i < _trusted.Count; i++)
                {
                    if (_trusted[i].At < _trusted[oldest].At)
                    {
                        oldest = i;
                    }
                }
                _trusted.RemoveAt(oldest);
            }
            _trusted.Add((address, now));
        }
    }
}
