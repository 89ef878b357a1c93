using System.Net;
using System.Text;
using M2M.Ingest.Authentication;
using M2M.Storage.Entities;

namespace M2M.Ingest.Tests;

/// <summary>The rules of device authentication without I/O: decisions, policy resolution, patterns, secrets, throttling, rates.</summary>
public sealed class DeviceAuthPolicyTests
{
    private const DeviceAuthRequirement None = DeviceAuthRequirement.None;
    private const DeviceAuthRequirement Secret = DeviceAuthRequirement.Secret;
    private const DeviceAuthRequirement Certificate = DeviceAuthRequirement.Certificate;
    private const DeviceAuthRequirement Either = DeviceAuthRequirement.Either;

    public static TheoryData<DeviceAuthRequirement, bool, PresentedSecret, PresentedCertificate, IdentificationRefusal> Decisions => new()
    {
        // The first-run mode: a device without credentials needs nothing.
        { None, false, PresentedSecret.None, PresentedCertificate.None, IdentificationRefusal.None },
        { None, false, PresentedSecret.None, PresentedCertificate.NoMatch, IdentificationRefusal.None },
        // A device with credentials needs one of them whatever the policy: no takeover by ident.
        { None, true, PresentedSecret.None, PresentedCertificate.None, IdentificationRefusal.CredentialsRequired },
        { None, true, PresentedSecret.None, PresentedCertificate.NoMatch, IdentificationRefusal.CredentialsRequired },
        { None, true, PresentedSecret.Matches, PresentedCertificate.None, IdentificationRefusal.None },
        { None, true, PresentedSecret.None, PresentedCertificate.Matches, IdentificationRefusal.None },
        // A wrong secret is refused even next to a good certificate.
        { None, false, PresentedSecret.Wrong, PresentedCertificate.None, IdentificationRefusal.WrongSecret },
        { Either, true, PresentedSecret.Wrong, PresentedCertificate.Matches, IdentificationRefusal.WrongSecret },
        // The policy's kind must be the one presented.
        { Secret, false, PresentedSecret.None, PresentedCertificate.None, IdentificationRefusal.PolicyNotMet },
        { Secret, true, PresentedSecret.None, PresentedCertificate.Matches, IdentificationRefusal.PolicyNotMet },
        { Secret, true, PresentedSecret.Matches, PresentedCertificate.None, IdentificationRefusal.None },
        { Certificate, true, PresentedSecret.Matches, PresentedCertificate.None, IdentificationRefusal.PolicyNotMet },
        { Certificate, true, PresentedSecret.None, PresentedCertificate.Matches, IdentificationRefusal.None },
        { Certificate, false, PresentedSecret.None, PresentedCertificate.NoMatch, IdentificationRefusal.PolicyNotMet },
        { Either, true, PresentedSecret.Matches, PresentedCertificate.None, IdentificationRefusal.None },
        { Either, true, PresentedSecret.None, PresentedCertificate.Matches, IdentificationRefusal.None },
        { Either, false, PresentedSecret.None, PresentedCertificate.None, IdentificationRefusal.PolicyNotMet },
    };

    [Theory]
    [MemberData(nameof(Decisions))]
    public void An_identification_is_decided_by_credentials_first_then_by_policy(
        DeviceAuthRequirement required, bool hasCredentials, PresentedSecret secret, PresentedCertificate certificate, IdentificationRefusal expected) =>
        Assert.Equal(expected, AuthDecision.Evaluate(required, hasCredentials, secret, certificate));

    [Fact]
    public void Without_credentials_and_whatever_is_presented_a_device_with_credentials_is_never_accepted()
    {
        foreach (var required in Enum.GetValues<DeviceAuthRequirement>())
        {
            foreach (var certificate in new[] { PresentedCertificate.None, PresentedCertificate.NoMatch })
            {
                foreach (var secret in new[] { PresentedSecret.None, PresentedSecret.Wrong })
                {
                    Assert.NotEqual(IdentificationRefusal.None, AuthDecision.Evaluate(required, hasCredentials: true, secret, certificate));
                }
            }
        }
    }

    private static readonly EffectiveDevicePolicy Server = new(Secret, AutoRegister: true, AutoRegisterPatterns: ["imei:*"], AutoRegisterPerMinute: 60);

    [Fact]
    public void A_domain_policy_overrides_the_server_default_field_by_field()
    {
        var inherited = EffectiveDevicePolicy.Resolve(DomainDevicePolicy.Inherit, Server, isDefaultDomain: true);
        Assert.Equal(Server.Require, inherited.Require);
        Assert.True(inherited.AutoRegister);
        Assert.Equal(["imei:*"], inherited.AutoRegisterPatterns);

        var own = EffectiveDevicePolicy.Resolve(new DomainDevicePolicy(Require: None, AutoRegisterPerMinute: 5), Server, isDefaultDomain: true);
        Assert.Equal(None, own.Require);
        Assert.Equal(5, own.AutoRegisterPerMinute);
        Assert.True(own.AllowsAutoRegistration("imei:1234"));
        Assert.False(own.AllowsAutoRegistration("sn:1234"));
    }

    [Fact]
    public void Another_domain_auto_registers_only_when_it_says_so_and_only_idents_of_its_own_patterns()
    {
        var inherited = EffectiveDevicePolicy.Resolve(DomainDevicePolicy.Inherit, Server, isDefaultDomain: false);
        Assert.False(inherited.AutoRegister);
        Assert.Equal(Secret, inherited.Require);

        var withoutPatterns = EffectiveDevicePolicy.Resolve(new DomainDevicePolicy(AutoRegister: true), Server, isDefaultDomain: false);
        Assert.False(withoutPatterns.AllowsAutoRegistration("imei:1234"));

        var emptyPatterns = EffectiveDevicePolicy.Resolve(new DomainDevicePolicy(AutoRegister: true, AutoRegisterPatterns: []), Server, isDefaultDomain: false);
        Assert.False(emptyPatterns.AllowsAutoRegistration("imei:1234"));

        var own = EffectiveDevicePolicy.Resolve(new DomainDevicePolicy(AutoRegister: true, AutoRegisterPatterns: ["acme:*"]), Server, isDefaultDomain: false);
        Assert.True(own.AllowsAutoRegistration("acme:42"));
        Assert.False(own.AllowsAutoRegistration("imei:42"));
    }

    [Fact]
    public void Invalid_policies_are_refused()
    {
        Assert.NotNull(new DomainDevicePolicy(AutoRegisterPerMinute: -1).Check());
        Assert.NotNull(new DomainDevicePolicy(AutoRegisterPatterns: ["has space"]).Check());
        Assert.NotNull(new DomainDevicePolicy(AutoRegisterPatterns: [""]).Check());
        Assert.NotNull(new DomainDevicePolicy(AutoRegisterPatterns: [.. Enumerable.Repeat("a*", IdentPattern.MaxCount + 1)]).Check());
        Assert.Null(new DomainDevicePolicy(Secret, true, ["imei:35*", "sn:????"], 10).Check());
    }

    [Theory]
    [InlineData("imei:35*", "imei:35412345678", true)]
    [InlineData("imei:35*", "imei:35", true)]
    [InlineData("imei:35*", "imei:3", false)]
    [InlineData("imei:35*", "xmei:35412", false)]
    [InlineData("sn:????", "sn:1234", true)]
    [InlineData("sn:????", "sn:12345", false)]
    [InlineData("*:*-b", "a:x-y-b", true)]
    [InlineData("*:*-b", "a:x-y-c", false)]
    [InlineData("*", "anything", true)]
    [InlineData("IMEI:*", "imei:1", false)]
    public void Ident_patterns_match_the_whole_ident_with_star_and_question_mark(string pattern, string ident, bool expected) =>
        Assert.Equal(expected, IdentPattern.IsMatch(pattern, ident));

    [Fact]
    public void A_pathological_pattern_is_matched_in_bounded_time()
    {
        var pattern = string.Concat(Enumerable.Repeat("*a", 60)) + "b";
        var ident = new string('a', 255);
        // Exponential backtracking would not finish in the lifetime of the test run; the matcher is O(pattern × ident).
        Assert.False(IdentPattern.IsMatch(pattern, ident));
    }

    [Fact]
    public void Generated_secrets_are_long_random_and_well_formed()
    {
        var secrets = Enumerable.Range(0, 100).Select(_ => DeviceSecrets.Generate()).ToList();
        Assert.Equal(100, secrets.Distinct().Count());
        Assert.All(secrets, s =>
        {
            Assert.Equal(43, s.Length);
            Assert.True(DeviceSecrets.IsWellFormed(s.AsSpan()));
            Assert.Null(DeviceSecrets.CheckStrength(s));
        });
    }

    [Theory]
    [InlineData("short1A!")]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    [InlineData("abcdefghijklmnopqrst")]
    [InlineData("abcdefghij klmnopqrstuvwxyz0123")]
    public void Weak_or_malformed_caller_secrets_are_refused(string secret) => Assert.NotNull(DeviceSecrets.CheckStrength(secret));

    [Theory]
    [InlineData("k7Qm2xPz9LwR4tYv8NcB")]
    [InlineData("pV3-w9Lq-Ze27-Mh4x-Rt8n")]
    public void Strong_caller_secrets_are_accepted(string secret) => Assert.Null(DeviceSecrets.CheckStrength(secret));

    [Fact]
    public void A_secret_is_stored_salted_and_verified_only_by_itself()
    {
        var secret = DeviceSecrets.Generate();
        var first = DeviceSecrets.Hash(secret);
        var second = DeviceSecrets.Hash(secret);

        Assert.NotEqual(first, second);
        Assert.DoesNotContain(secret, first, StringComparison.Ordinal);
        Assert.StartsWith("hs256$", first, StringComparison.Ordinal);
        Assert.True(DeviceSecrets.Verify(Encoding.ASCII.GetBytes(secret), first));
        Assert.True(DeviceSecrets.Verify(secret, second));
        Assert.False(DeviceSecrets.Verify(secret + "x", first));
        Assert.False(DeviceSecrets.Verify(DeviceSecrets.Generate(), first));
        Assert.False(DeviceSecrets.Verify(secret, null));
        Assert.False(DeviceSecrets.Verify(secret, "hs256$garbage$garbage"));
        Assert.False(DeviceSecrets.Verify(secret, "plain:" + secret));
    }

    [Theory]
    [InlineData("AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89", "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789")]
    [InlineData("abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789", "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789")]
    [InlineData("abcdef", null)]
    [InlineData("zz", null)]
    [InlineData("abcdef0123456789abcdef0123456789abcdef0123456789abcdef01234567890", null)]
    public void Thumbprints_are_normalised_to_lowercase_SHA_256_hex(string input, string? expected) =>
        Assert.Equal(expected, DeviceCertificates.NormalizeThumbprint(input));

    [Fact]
    public void The_documented_M2MP_identification_with_a_secret_is_the_ident_a_space_and_the_secret()
    {
        var output = new System.Buffers.ArrayBufferWriter<byte>();
        M2M.Ingest.M2mp.M2mpWriter.WriteIdentification(output, "imei:1234 k7Qm2xPz9LwR4tYv8NcB"u8);
        // docs/device-authentication.md, "M2MP".
        Assert.Equal(
            Convert.FromHexString("011e696d65693a31323334206b37516d3278507a394c775234745976384e6342"),
            output.WrittenSpan.ToArray());
    }

    [Fact]
    public void An_address_is_delayed_only_past_its_failure_threshold_and_forgiven_after_the_window()
    {
        var clock = new ManualClock();
        var throttle = new IdentificationThrottle(new DeviceAuthOptions { FailuresBeforeDelay = 3, FailureWindow = TimeSpan.FromMinutes(1), MaxFailureDelay = TimeSpan.FromSeconds(1) }, clock);
        var address = IPAddress.Parse("192.0.2.7");
        for (var i = 0; i < 3; i++)
        {
            throttle.RecordFailure(address);
        }
        Assert.Equal(TimeSpan.Zero, throttle.DelayFor(address));

        throttle.RecordFailure(address);
        Assert.Equal(TimeSpan.FromMilliseconds(250), throttle.DelayFor(address));
        throttle.RecordFailure(address);
        Assert.Equal(TimeSpan.FromMilliseconds(500), throttle.DelayFor(address));
        for (var i = 0; i < 10; i++)
        {
            throttle.RecordFailure(address);
        }
        Assert.Equal(TimeSpan.FromSeconds(1), throttle.DelayFor(address));
        Assert.Equal(TimeSpan.Zero, throttle.DelayFor(IPAddress.Parse("192.0.2.8")));

        clock.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal(TimeSpan.Zero, throttle.DelayFor(address));
    }

    [Fact]
    public void IPv6_addresses_count_per_64_and_the_table_stays_bounded()
    {
        var clock = new ManualClock();
        var throttle = new IdentificationThrottle(new DeviceAuthOptions { FailuresBeforeDelay = 1, MaxTrackedAddresses = 10 }, clock);
        throttle.RecordFailure(IPAddress.Parse("2001:db8:1:2::1"));
        throttle.RecordFailure(IPAddress.Parse("2001:db8:1:2::ffff"));
        Assert.True(throttle.DelayFor(IPAddress.Parse("2001:db8:1:2:aaaa::9")) > TimeSpan.Zero);
        Assert.Equal(TimeSpan.Zero, throttle.DelayFor(IPAddress.Parse("2001:db8:1:3::1")));
        Assert.Equal(IPAddress.Parse("10.1.2.3"), IdentificationThrottle.Key(IPAddress.Parse("::ffff:10.1.2.3")));

        for (var i = 0; i < 1000; i++)
        {
            throttle.RecordFailure(new IPAddress([10, 0, (byte)(i >> 8), (byte)i]));
        }
        Assert.True(throttle.Count <= 10);
    }

    [Fact]
    public void Auto_registration_is_limited_per_domain_to_its_rate_with_a_minute_of_burst()
    {
        var clock = new ManualClock();
        var limiter = new AutoRegistrationLimiter(clock);
        var domain = Guid.NewGuid();
        var other = Guid.NewGuid();

        Assert.Equal(6, Enumerable.Range(0, 10).Count(_ => limiter.TryAcquire(domain, 6)));
        Assert.True(limiter.TryAcquire(other, 6));
        clock.Advance(TimeSpan.FromSeconds(10));
        Assert.True(limiter.TryAcquire(domain, 6));
        Assert.False(limiter.TryAcquire(domain, 6));
        clock.Advance(TimeSpan.FromHours(1));
        Assert.Equal(6, Enumerable.Range(0, 10).Count(_ => limiter.TryAcquire(domain, 6)));
        Assert.True(Enumerable.Range(0, 1000).All(_ => limiter.TryAcquire(domain, 0)));
    }

    /// <summary>A clock the test moves.</summary>
    private sealed class ManualClock : TimeProvider
    {
        private long _ticks = 1_000_000;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => Interlocked.Read(ref _ticks);

        public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
    }
}
