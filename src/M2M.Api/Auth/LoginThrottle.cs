using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace M2M.Api.Auth;

/// <summary>
/// Slows down password guessing: within a sliding window, a user name may fail only
/// <see cref="ApiOptions.LoginFailuresPerUser"/> times and a client address may try only
/// <see cref="ApiOptions.LoginAttemptsPerAddress"/> times; past that, logins answer 429 with the
/// time until the oldest counted attempt leaves the window. Memory stays bounded: idle keys are
/// pruned and the number of tracked keys is capped.
/// </summary>
public sealed class LoginThrottle(IOptions<ApiOptions> options, TimeProvider time)
{
    /// <summary>Tracked keys (user names plus addresses) above which stale ones are pruned.</summary>
    internal const int PruneThreshold = 10_000;

    private readonly ConcurrentDictionary<string, Window> _users = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Window> _addresses = new(StringComparer.Ordinal);

    /// <summary>
    /// Counts an attempt from <paramref name="address"/> for <paramref name="user"/>. Returns how long
    /// the caller must wait when throttled, else <c>null</c> (go on and check the password).
    /// </summary>
    public TimeSpan? TryBegin(string user, string address)
    {
        var o = options.Value;
        var now = time.GetUtcNow();
        Prune(now);
        var byAddress = _addresses.GetOrAdd(address, static _ => new Window());
        var wait = byAddress.TryAdd(now, o.LoginWindow, o.LoginAttemptsPerAddress);
        if (wait is not null)
        {
            return wait;
        }
        return _users.TryGetValue(NormalizeUser(user), out var byUser) ? byUser.WaitIfFull(now, o.LoginWindow, o.LoginFailuresPerUser) : null;
    }

    /// <summary>Records a failed password for <paramref name="user"/>.</summary>
    public void Failed(string user)
    {
        var o = options.Value;
        _users.GetOrAdd(NormalizeUser(user), static _ => new Window()).TryAdd(time.GetUtcNow(), o.LoginWindow, int.MaxValue);
    }

    /// <summary>A successful login forgets the user's failures.</summary>
    public void Succeeded(string user) => _users.TryRemove(NormalizeUser(user), out _);

    private static string NormalizeUser(string user) => user.Length > 64 ? user[..64].ToLowerInvariant() : user.ToLowerInvariant();

    private void Prune(DateTimeOffset now)
    {
        if (_users.Count + _addresses.Count < PruneThreshold)
        {
            return;
        }
        var window = options.Value.LoginWindow;
        foreach (var map in (ConcurrentDictionary<string, Window>[])[_users, _addresses])
        {
            foreach (var (key, w) in map)
            {
                if (w.IsIdle(now, window))
                {
                    map.TryRemove(key, out _);
                }
            }
        }
    }

    /// <summary>Times of the attempts still inside the window, oldest first.</summary>
    private sealed class Window
    {
        private readonly Queue<DateTimeOffset> _times = new();

        public TimeSpan? TryAdd(DateTimeOffset now, TimeSpan window, int max)
        {
            lock (_times)
            {
                Expire(now, window);
                if (_times.Count >= max)
                {
                    return RetryAfter(now, window);
                }
                _times.Enqueue(now);
                // A hostile client cannot grow a key's queue past the cap.
                while (_times.Count > 1000)
                {
                    _times.Dequeue();
                }
                return null;
            }
        }

        public TimeSpan? WaitIfFull(DateTimeOffset now, TimeSpan window, int max)
        {
            lock (_times)
            {
                Expire(now, window);
                return _times.Count >= max ? RetryAfter(now, window) : null;
            }
        }

        public bool IsIdle(DateTimeOffset now, TimeSpan window)
        {
            lock (_times)
            {
                Expire(now, window);
                return _times.Count == 0;
            }
        }

        private void Expire(DateTimeOffset now, TimeSpan window)
        {
            while (_times.Count > 0 && now - _times.Peek() >= window)
            {
                _times.Dequeue();
            }
        }

        private TimeSpan RetryAfter(DateTimeOffset now, TimeSpan window)
        {
            var wait = _times.Peek() + window - now;
            return wait > TimeSpan.FromSeconds(1) ? wait : TimeSpan.FromSeconds(1);
        }
    }
}
