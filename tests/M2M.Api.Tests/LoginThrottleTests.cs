using System.Net;
using System.Net.Http.Json;
using static M2M.Api.Tests.Http;

namespace M2M.Api.Tests;

/// <summary>
/// Login throttling against the started server, with clients on distinct loopback addresses
/// (127.0.0.x): an attacker's flood slows the attacker, never the real user.
/// </summary>
public class LoginThrottleTests
{
    private static Task<HttpResponseMessage> LoginAsync(HttpClient client, string user, string password)
        => client.PostAsJsonAsync("/api/auth/token", new { user, password }, Ct);

    /// <summary>Sends <paramref name="count"/> wrong passwords; returns how many the server refused with 429.</summary>
    private static async Task<int> FloodAsync(HttpClient client, Func<int, string> user, int count)
    {
        var throttled = 0;
        for (var i = 0; i < count; i++)
        {
            using var response = await LoginAsync(client, user(i), "wrong-password-" + i);
            Assert.True(response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.TooManyRequests, $"unexpected {(int)response.StatusCode}");
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                throttled++;
            }
        }
        return throttled;
    }

    [Fact]
    public async Task Real_admin_signs_in_while_another_address_floods_wrong_passwords_for_admin()
    {
        await using var host = await ApiHost.StartAsync();
        using var attacker = host.ClientFrom("127.0.0.2");
        using var admin = host.ClientFrom("127.0.0.3");

        var throttled = await FloodAsync(attacker, _ => "admin", 40);
        using var fromAttacker = await LoginAsync(attacker, "admin", ApiHost.AdminPassword);
        using var real = await LoginAsync(admin, "admin", ApiHost.AdminPassword);

        Assert.True(throttled > 30, $"only {throttled} of 40 wrong passwords were throttled");
        await fromAttacker.AssertProblemAsync(429);
        Assert.True(fromAttacker.Headers.RetryAfter?.Delta > TimeSpan.Zero);
        Assert.Equal(HttpStatusCode.OK, real.StatusCode);
    }

    [Fact]
    public async Task Real_admin_signs_in_from_an_address_that_floods_wrong_passwords_for_other_users()
    {
        await using var host = await ApiHost.StartAsync("--M2M:Api:LoginAddressFreeFailures", "10");
        using var shared = host.ClientFrom("127.0.0.4");
        using var before = await LoginAsync(shared, "admin", ApiHost.AdminPassword);
        Assert.Equal(HttpStatusCode.OK, before.StatusCode);

        var sameUser = await FloodAsync(shared, _ => "victim.user", 20);
        var sprayed = await FloodAsync(shared, i => $"user{i:D4}", 30);
        using var someoneNew = await LoginAsync(shared, "other.user", "whatever-password");
        using var real = await LoginAsync(shared, "admin", ApiHost.AdminPassword);

        Assert.True(sameUser > 10, $"only {sameUser} of 20 wrong passwords for one user were throttled");
        Assert.True(sprayed > 15, $"only {sprayed} of 30 sprayed names were throttled");
        await someoneNew.AssertProblemAsync(429);
        Assert.Equal(HttpStatusCode.OK, real.StatusCode);
    }

    [Fact]
    public async Task Distributed_guessing_delays_new_addresses_but_not_the_address_the_admin_used_before()
    {
        await using var host = await ApiHost.StartAsync("--M2M:Api:LoginUserAttackFailures", "10");
        using var usual = host.ClientFrom("127.0.0.5");
        using (var first = await LoginAsync(usual, "admin", ApiHost.AdminPassword))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        }

        // Twelve addresses, two guesses each: none goes past its own allowance, together they pass the user's.
        var throttled = 0;
        for (var a = 10; a < 22; a++)
        {
            using var bot = host.ClientFrom($"127.0.1.{a}");
            throttled += await FloodAsync(bot, _ => "admin", 2);
        }
        using var fresh = host.ClientFrom("127.0.2.1");
        using var fromNewAddress = await LoginAsync(fresh, "admin", ApiHost.AdminPassword);
        using var fromUsualAddress = await LoginAsync(usual, "admin", ApiHost.AdminPassword);

        Assert.True(throttled >= 10, $"only {throttled} of 24 distributed guesses were throttled");
        await fromNewAddress.AssertProblemAsync(429);
        Assert.Equal(HttpStatusCode.OK, fromUsualAddress.StatusCode);
    }
}
