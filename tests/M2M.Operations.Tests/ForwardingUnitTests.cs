using System.Net;
using System.Text;
using M2M.Forwarding;
using M2M.Storage.Forwarding;
using Microsoft.Extensions.Logging.Abstractions;

namespace M2M.Operations.Tests;

/// <summary>Signing, the address rule of restricted endpoints and the retry schedule.</summary>
public sealed class ForwardingUnitTests
{
    [Fact]
    public void The_signature_is_the_documented_hmac_and_verification_refuses_changes_and_old_timestamps()
    {
        var body = """{"deliveryId":"x"}"""u8.ToArray();
        var now = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);

        var signature = WebhookSignature.Sign("whsec_test", now.ToUnixTimeSeconds(), body);

        // docs/forwarding.md: v1= + lowercase hex of HMAC-SHA256(secret, "<timestamp>." + body).
        using var hmac = new System.Security.Cryptography.HMACSHA256(Encoding.UTF8.GetBytes("whsec_test"));
        Assert.Equal("v1=" + Convert.ToHexStringLower(hmac.ComputeHash([.. "1800000000."u8, .. body])), signature);
        Assert.True(WebhookSignature.Verify("whsec_test", "1800000000", signature, body, now.AddMinutes(4), TimeSpan.FromMinutes(5)));
        Assert.False(WebhookSignature.Verify("whsec_test", "1800000000", signature, body, now.AddMinutes(6), TimeSpan.FromMinutes(5)));
        Assert.False(WebhookSignature.Verify("whsec_other", "1800000000", signature, body, now, TimeSpan.FromMinutes(5)));
        Assert.False(WebhookSignature.Verify("whsec_test", "1800000001", signature, body, now, TimeSpan.FromMinutes(5)));
        Assert.False(WebhookSignature.Verify("whsec_test", "1800000000", signature, [.. body, (byte)' '], now, TimeSpan.FromMinutes(5)));
        Assert.False(WebhookSignature.Verify("whsec_test", "not a number", signature, body, now, TimeSpan.FromMinutes(5)));
    }

    [Fact]
    public void Secrets_differ_per_endpoint_and_generation_and_never_depend_on_anything_stored()
    {
        var key = new ForwardingKey(new byte[32]);
        var id = Guid.NewGuid();

        Assert.StartsWith("whsec_", key.SecretFor(id, 1), StringComparison.Ordinal);
        Assert.Equal(key.SecretFor(id, 1), new ForwardingKey(new byte[32]).SecretFor(id, 1));
        Assert.NotEqual(key.SecretFor(id, 1), key.SecretFor(id, 2));
        Assert.NotEqual(key.SecretFor(id, 1), key.SecretFor(Guid.NewGuid(), 1));
        Assert.NotEqual(key.SecretFor(id, 1), new ForwardingKey([.. new byte[31], 1]).SecretFor(id, 1));
    }

    [Theory]
    [InlineData("127.0.0.1", false)]
    [InlineData("10.1.2.3", false)]
    [InlineData("172.16.0.1", false)]
    [InlineData("172.31.255.255", false)]
    [InlineData("192.168.1.1", false)]
    [InlineData("169.254.169.254", false)]
    [InlineData("100.64.0.1", false)]
    [InlineData("0.0.0.0", false)]
    [InlineData("224.0.0.1", false)]
    [InlineData("::1", false)]
    [InlineData("fe80::1", false)]
    [InlineData("fd00::1", false)]
    [InlineData("::ffff:10.0.0.1", false)]
    [InlineData("172.32.0.1", true)]
    [InlineData("93.184.216.34", true)]
    [InlineData("2606:4700::1111", true)]
    public void Restricted_endpoints_reach_public_addresses_only(string address, bool allowed)
        => Assert.Equal(allowed, WebhookDelivery.IsPublic(IPAddress.Parse(address)));

    [Fact]
    public void Retry_delays_double_from_the_minimum_up_to_the_maximum_with_at_most_20_percent_jitter()
    {
        var options = new ForwardingOptions { MinRetryDelay = TimeSpan.FromSeconds(1), MaxRetryDelay = TimeSpan.FromSeconds(60) };
        var webhook = new Webhook(Guid.NewGuid(), "w", Guid.NewGuid(), new Uri("https://example.com/"), true, false, true, false, 1, DateTimeOffset.UnixEpoch, null, new WebhookStatus(null, null, null, 0, 0));
        var worker = new EndpointWorker(webhook, null!, null!, null!, options, NullLogger<EndpointWorker>.Instance);

        foreach (var (attempt, full) in new[] { (1, 1.0), (2, 2.0), (3, 4.0), (6, 32.0), (7, 60.0), (40, 60.0) })
        {
            for (var i = 0; i < 20; i++)
            {
                Assert.InRange(worker.RetryDelay(attempt).TotalSeconds, full * 0.8, full);
            }
        }
    }
}
