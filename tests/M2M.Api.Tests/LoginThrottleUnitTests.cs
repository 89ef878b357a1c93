using System.Net;
using M2M.Api.Auth;
using Microsoft.Extensions.Options;

namespace M2M.Api.Tests;

/// <summary>The rules of <see cref="LoginThrottle"/> on a manual clock.</summary>
public class LoginThrottleUnitTests
{
    private static readonly IPAddress A = IPAddress.Parse("10.0.0.1");
    private static readonly IPAddress B = IPAddress.Parse("10.0.0.2");

    private readonly ManualClock _clock = new();

    private LoginThrottle Throttle(Action<ApiOptions>? configure = null)
    {
        var options = new ApiOptions();
        configure?.Invoke(options);
        return new LoginThrottle(Options.Create(options), _clock);
    }

    /// <summary>Fails <paramref name="count"/> admitted attempts, waiting out every delay on the way.</summary>
    private void Fail(LoginThrottle throttle, string user, IPAddress address, int count)
    {
        for (var i = 0; i < count; i++)
        {
            if (throttle.TryBegin(user, address) is { } wait)
            {
                _clock.Now += wait;
                Assert.Null(throttle.TryBegin(user, address));
            }
        }
    }

    [Fact]
    public void Delays_double_after_the_free_failures_and_stop_at_the_maximum()
    {
        var throttle = Throttle(o => o.LoginMaxDelay = TimeSpan.FromSeconds(10));
        var waits = new List<TimeSpan>();

        for (var i = 0; i < 3; i++)
        {
            Assert.Null(throttle.TryBegin("bob", A));
        }
        for (var i = 0; i < 6; i++)
        {
            var wait = throttle.TryBegin("bob", A);
            Assert.NotNull(wait);
            waits.Add(wait.Value);
            _clock.Now += wait.Value;
            Assert.Null(throttle.TryBegin("bob", A));
        }

        Assert.Equal([1, 2, 4, 8, 10, 10], waits.Select(w => w.TotalSeconds));
    }

    [Fact]
    public void Concurrent_attempts_count_before_their_outcome_is_known()
    {
        var throttle = Throttle();

        // Three attempts admitted and still being checked: the fourth must wait already.
        Assert.Null(throttle.TryBegin("bob", A));
        Assert.Null(throttle.TryBegin("bob", A));
        Assert.Null(throttle.TryBegin("bob", A));

        Assert.NotNull(throttle.TryBegin("bob", A));
    }

    [Fact]
    public void A_success_takes_its_attempt_back_and_forgets_the_pair()
    {
        var throttle = Throttle();
        Fail(throttle, "bob", A, 2);

        Assert.Null(throttle.TryBegin("bob", A));
        throttle.Succeeded("bob", A);

        for (var i = 0; i < 3; i++)
        {
            Assert.Null(throttle.TryBegin("bob", A));
        }
    }

    [Fact]
    public void Failures_are_forgotten_after_the_window()
    {
        var throttle = Throttle(o => o.LoginWindow = TimeSpan.FromMinutes(1));
        Fail(throttle, "bob", A, 3);
        var blocked = throttle.TryBegin("bob", A);

        _clock.Now += TimeSpan.FromSeconds(61);

        Assert.NotNull(blocked);
        Assert.Null(throttle.TryBegin("bob", A));
    }

    [Fact]
    public void Another_address_of_the_same_user_is_not_delayed_by_a_flooding_address()
    {
        var throttle = Throttle();
        Fail(throttle, "admin", A, 12);

        Assert.NotNull(throttle.TryBegin("admin", A));
        Assert.Null(throttle.TryBegin("admin", B));
    }

    [Fact]
    public void Distributed_guessing_delays_untrusted_addresses_only()
    {
        var throttle = Throttle(o => o.LoginUserAttackFailures = 20);
        Assert.Null(throttle.TryBegin("admin", B));
        throttle.Succeeded("admin", B);

        for (var i = 0; i < 20; i++)
        {
            Assert.Null(throttle.TryBegin("admin", IPAddress.Parse($"192.168.1.{i}")));
        }

        Assert.NotNull(throttle.TryBegin("admin", IPAddress.Parse("192.168.2.1")));
        Assert.Null(throttle.TryBegin("admin", B));
        Assert.Null(throttle.TryBegin("carol", IPAddress.Parse("192.168.2.1")));
    }

    [Fact]
    public void Addresses_of_one_ipv6_64_share_a_counter_and_mapped_ipv4_is_ipv4()
    {
        Assert.Equal(
            LoginThrottle.AddressKey(IPAddress.Parse("2001:db8:1:2::1")),
            LoginThrottle.AddressKey(IPAddress.Parse("2001:db8:1:2:ffff:1:2:3")));
        Assert.NotEqual(
            LoginThrottle.AddressKey(IPAddress.Parse("2001:db8:1:2::1")),
            LoginThrottle.AddressKey(IPAddress.Parse("2001:db8:1:3::1")));
        Assert.Equal("10.0.0.1", LoginThrottle.AddressKey(IPAddress.Parse("::ffff:10.0.0.1")));
    }

    [Fact]
    public void Memory_stays_bounded_under_a_flood_of_random_names_and_addresses()
    {
        const int cap = 1000;
        var throttle = Throttle(o => o.LoginMaxTrackedKeys = cap);
        var random = new Random(42);
        var address = new byte[4];

        for (var i = 0; i < 200_000; i++)
        {
            random.NextBytes(address);
            throttle.TryBegin(Guid.NewGuid().ToString("N") + new string('x', 100), new IPAddress(address));
            _clock.Now += TimeSpan.FromMilliseconds(1);
            Assert.True(throttle.TrackedKeys <= 3 * cap, $"{throttle.TrackedKeys} entries after {i + 1} attempts");
        }
    }

    [Fact]
    public void The_flooding_address_stays_throttled_while_random_names_fill_the_tables()
    {
        var throttle = Throttle(o => o.LoginMaxTrackedKeys = 100);
        Fail(throttle, "admin", A, 25);
        var random = new Random(7);
        var address = new byte[4];

        for (var i = 0; i < 10_000; i++)
        {
            random.NextBytes(address);
            throttle.TryBegin("user" + i, new IPAddress(address));
            if (i % 50 == 0)
            {
                // The attacker keeps trying: it stays among the most recently active entries.
                throttle.TryBegin("admin", A);
            }
            _clock.Now += TimeSpan.FromMilliseconds(1);
        }

        Assert.NotNull(throttle.TryBegin("admin", A));
    }

    private sealed class ManualClock : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
