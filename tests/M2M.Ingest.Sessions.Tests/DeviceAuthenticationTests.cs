using System.Net;
using System.Text;
using M2M.Ingest.Authentication;
using M2M.Ingest.Connections;
using M2M.Ingest.M2mp;
using M2M.Storage.Entities;
using M2M.Storage.Files;
using Microsoft.Extensions.Logging;

namespace M2M.Ingest.Sessions.Tests;

/// <summary>A server of its own for the authentication tests: their refusals must not slow down other tests' devices.</summary>
public sealed class AuthServer : IAsyncLifetime
{
    private DeviceServer? _server;

    public DeviceServer Server => _server ?? throw new InvalidOperationException("Not started.");

    public async ValueTask InitializeAsync() =>
        _server = await DeviceServer.StartAsync("Auth:FailuresBeforeDelay=1000000", "Auth:PolicyCacheDuration=00:00:00");

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}

/// <summary>
/// Device authentication over plain TCP (docs/device-authentication.md): secrets, takeover
/// attempts, domain policies, firmware per domain. TLS and certificates: <see cref="TlsListenerTests"/>.
/// </summary>
public sealed class DeviceAuthenticationTests(AuthServer fixture) : IClassFixture<AuthServer>
{
    private DeviceServer Server => fixture.Server;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private IDeviceAuthStore Auth => Server.Services.GetRequiredService<IDeviceAuthStore>();

    private IDomainStore Domains => Server.Services.GetRequiredService<IDomainStore>();

    /// <summary>A device with a secret (created as the API does: with its credentials, in one write).</summary>
    internal static async Task<(Device Device, string Secret)> DeviceWithSecretAsync(DeviceServer server, Guid? domainId = null, string? ident = null)
    {
        var secret = DeviceSecrets.Generate();
        var device = await server.Devices.CreateAsync(ident ?? Idents.New(), null, domainId, new DeviceCredentialSeed(DeviceSecrets.Hash(secret), []), Ct);
        return (device, secret);
    }

    private static async Task<byte> M2mpIdentResultAsync(M2mpDevice device, string identification)
    {
        await device.SendIdentAsync(identification);
        var frame = await device.ReadAsync();
        Assert.Equal(M2mpFrameKind.IdentificationResult, frame!.Kind);
        return frame.Value;
    }

    [Fact]
    public async Task An_impostor_with_the_ident_only_or_a_wrong_secret_is_refused_over_ALIP_and_gets_none_of_the_devices_pending_work()
    {
        var (device, secret) = await DeviceWithSecretAsync(Server);
        await Server.Devices.SetSettingAsync(device.Id, "apn_password", "apn-s3cret", Ct);
        var commandId = await Server.Devices.AddCommandAsync(device.Id, "unlock", cancellationToken: Ct);

        await using var real = await Server.ConnectAlipAsync();
        Assert.Equal("ID 1", await real.AskAsync($"ID {device.Ident} {secret}"));
        await real.ExpectAsync("S S apn_password apn-s3cret");
        await real.ExpectAsync("C 1 unlock");

        await using var impostor = await Server.ConnectAlipAsync();
        Assert.Equal("ID 0", await impostor.AskAsync($"ID {device.Ident}"));
        Assert.Equal("ID 0", await impostor.AskAsync($"ID {device.Ident} {DeviceSecrets.Generate()}"));
        // A secret of another device does not open this one either.
        var (_, otherSecret) = await DeviceWithSecretAsync(Server);
        Assert.Equal("ID 0", await impostor.AskAsync($"ID {device.Ident} {otherSecret}"));
        Assert.Equal("ERR You must be identified", await impostor.AskAsync("C A 1"));
        Assert.Equal("ERR You must be identified", await impostor.AskAsync("S A apn_password apn-s3cret"));
        Assert.Equal("ERR You must be identified", await impostor.AskAsync("D T 99"));
        await impostor.ExpectSilenceAsync(TimeSpan.FromMilliseconds(300));

        // The real device keeps its session; nothing of the impostor reached the registry or the history.
        Assert.Single(Server.Connections.GetByDevice(device.Id));
        await real.SendAsync("D T 21.5");
        await real.BarrierAsync();
        Assert.Equal("\"21.5\"", Assert.Single(await Server.RecordsAsync(device.Id, "sen:temp")).Data);
        Assert.Equal(CommandState.Sent, (await Server.Devices.GetCommandAsync(device.Id, commandId, Ct))!.State);
        Assert.True(Assert.Single(await Server.Devices.GetSettingsAsync(device.Id, Ct)).Pending);
    }

    [Fact]
    public async Task An_impostor_over_M2MP_is_refused_and_cannot_disconnect_the_real_device()
    {
        var (device, secret) = await DeviceWithSecretAsync(Server);
        await Server.Devices.SetSettingAsync(device.Id, "apn_password", "apn-s3cret", Ct);

        await using var real = await Server.ConnectM2mpAsync();
        await real.IdentifyAsync($"{device.Ident} {secret}");
        Assert.Equal("_set [\"sg\", \"apn_password=apn-s3cret\"]", (await real.ReadAsync())!.ToString());
        Assert.Equal("_sta [\"g\", \"cap\"]", (await real.ReadAsync())!.ToString());

        await using var impostor = await Server.ConnectM2mpAsync();
        Assert.Equal(0, await M2mpIdentResultAsync(impostor, device.Ident));
        await impostor.SendTextAsync("_special", "disconnect_us");
        Assert.Equal(0, await M2mpIdentResultAsync(impostor, $"{device.Ident} {DeviceSecrets.Generate()}"));
        await impostor.SendTextAsync("_special", "disconnect_us");
        await impostor.SendTextAsync("sen:temp", "99");
        await impostor.ExpectSilenceAsync(TimeSpan.FromMilliseconds(300));

        // Still connected and served: the barrier is answered, the impostor's data is nowhere.
        await real.PingAsync(7);
        Assert.Single(Server.Connections.GetByDevice(device.Id));
        Assert.Empty(await Server.RecordsAsync(device.Id, "sen:temp"));
    }

    [Fact]
    public async Task A_device_with_its_secret_identifies_on_both_protocols_and_a_malformed_secret_is_a_format_error()
    {
        var (device, secret) = await DeviceWithSecretAsync(Server);
        await using (var alip = await Server.ConnectAlipAsync())
        {
            Assert.Equal("ERR Invalid identification", await alip.AskAsync($"ID {device.Ident} short"));
            Assert.Equal("ID 1", await alip.AskAsync($"ID {device.Ident} {secret}"));
        }
        await using var m2mp = await Server.ConnectM2mpAsync();
        Assert.Equal(0, await M2mpIdentResultAsync(m2mp, $"{device.Ident} {secret} extra"));
        await m2mp.IdentifyAsync($"{device.Ident} {secret}");
    }

    [Fact]
    public async Task A_domain_policy_requiring_a_secret_refuses_its_devices_without_one_and_leaves_other_domains_alone()
    {
        var strict = await Domains.CreateAsync("strict-" + Guid.NewGuid().ToString("N")[..8], Ct);
        await Auth.SetDomainPolicyAsync(strict.Id, new DomainDevicePolicy(Require: DeviceAuthRequirement.Secret), Ct);
        var bare = await Server.Devices.CreateAsync(Idents.New(), null, strict.Id, Ct);
        var (withSecret, secret) = await DeviceWithSecretAsync(Server, strict.Id);
        var elsewhere = await Server.Devices.CreateAsync(Idents.New(), cancellationToken: Ct);

        await using var device = await Server.ConnectAlipAsync();
        Assert.Equal("ID 0", await device.AskAsync($"ID {bare.Ident}"));
        Assert.Equal("ID 1", await device.AskAsync($"ID {withSecret.Ident} {secret}"));
        await using var other = await Server.ConnectAlipAsync();
        Assert.Equal("ID 1", await other.AskAsync($"ID {elsewhere.Ident}"));
    }

    [Fact]
    public async Task A_domain_auto_registers_the_idents_of_its_patterns_and_overlapping_patterns_are_refused()
    {
        var prefix = "t" + Guid.NewGuid().ToString("N")[..5];
        var acme = await Domains.CreateAsync("acme-" + prefix, Ct);
        await Auth.SetDomainPolicyAsync(acme.Id, new DomainDevicePolicy(AutoRegister: true, AutoRegisterPatterns: [$"{prefix}:1*"]), Ct);

        await using var device = await Server.ConnectAlipAsync();
        Assert.Equal("ID 1", await device.AskAsync($"ID {prefix}:12345"));
        Assert.Equal(acme.Id, (await Server.DeviceAsync($"{prefix}:12345")).DomainId);

        // Not matching the domain's patterns: the default domain takes it (server default: any ident).
        await using var plain = await Server.ConnectAlipAsync();
        Assert.Equal("ID 1", await plain.AskAsync($"ID {prefix}:99999"));
        Assert.Equal((await Domains.EnsureDefaultAsync(Ct)).Id, (await Server.DeviceAsync($"{prefix}:99999")).DomainId);

        // Two domains claiming one ident: nobody gets it.
        var other = await Domains.CreateAsync("other-" + prefix, Ct);
        await Auth.SetDomainPolicyAsync(other.Id, new DomainDevicePolicy(AutoRegister: true, AutoRegisterPatterns: [$"{prefix}:1?3*"]), Ct);
        await using var ambiguous = await Server.ConnectAlipAsync();
        Assert.Equal("ID 0", await ambiguous.AskAsync($"ID {prefix}:13333"));
        Assert.Null(await Server.Devices.GetByIdentAsync($"{prefix}:13333", Ct));
    }

    [Fact]
    public async Task Devices_read_only_the_firmware_their_domain_may_use()
    {
        var a = await Domains.CreateAsync("fwa-" + Guid.NewGuid().ToString("N")[..8], Ct);
        var b = await Domains.CreateAsync("fwb-" + Guid.NewGuid().ToString("N")[..8], Ct);
        var name = $"fw-{Guid.NewGuid():N}.bin";
        await Server.Firmware.StoreAsync(name, new MemoryStream([1, 2, 3, 4]), cancellationToken: Ct);
        var inA = await Server.Devices.CreateAsync(Idents.New(), null, a.Id, Ct);
        var inB = await Server.Devices.CreateAsync(Idents.New(), null, b.Id, Ct);

        await using var deviceA = await Server.ConnectAlipAsync();
        Assert.Equal("ID 1", await deviceA.AskAsync($"ID {inA.Ident}"));
        await deviceA.ExpectAsync("S GA");
        await using var deviceB = await Server.ConnectAlipAsync();
        Assert.Equal("ID 1", await deviceB.AskAsync($"ID {inB.Ident}"));
        await deviceB.ExpectAsync("S GA");

        // A firmware without an access list is nobody's.
        Assert.Equal("F N 0", await deviceA.AskAsync($"F N {name}"));
        await Server.Firmware.SetAccessAsync(name, new FirmwareAccess(false, [a.Id]), Ct);
        Assert.Equal("F N 1", await deviceA.AskAsync($"F N {name}"));
        Assert.Equal("F G 0 01020304", await deviceA.AskAsync("F G 0 10"), ignoreCase: true);
        Assert.Equal("F N 0", await deviceB.AskAsync($"F N {name}"));
        Assert.Equal("ERR no file selected", await deviceB.AskAsync("F G 0 10"));

        await Server.Firmware.SetAccessAsync(name, new FirmwareAccess(true, []), Ct);
        Assert.Equal("F N 1", await deviceB.AskAsync($"F N {name}"));
    }

    [Fact]
    public async Task Refusals_are_counted_by_reason_and_logged_without_the_secret()
    {
        var (device, secret) = await DeviceWithSecretAsync(Server);
        var wrong = DeviceSecrets.Generate();
        var logger = new CapturingLogger();
        var authenticator = ActivatorUtilities.CreateInstance<DeviceAuthenticator>(Server.Services, (ILogger<DeviceAuthenticator>)logger);
        using var refused = new MetricCapture("m2m.ingest.identifications.refused", "reason");

        var outcome = await authenticator.IdentifyAsync(
            new IdentificationAttempt(device.Ident, Encoding.ASCII.GetBytes(wrong), null, IPAddress.Loopback, DeviceProtocol.Alip), Ct);
        var missing = await authenticator.IdentifyAsync(
            new IdentificationAttempt(device.Ident, null, null, IPAddress.Loopback, DeviceProtocol.M2mp), Ct);

        Assert.Null(outcome.Device);
        Assert.Equal(IdentificationRefusal.WrongSecret, outcome.Refusal);
        Assert.Equal(IdentificationRefusal.CredentialsRequired, missing.Refusal);
        Assert.True(refused["wrong_secret"] >= 1);
        Assert.True(refused["credentials_required"] >= 1);
        Assert.Contains(logger.Lines, l => l.Contains(device.Ident, StringComparison.Ordinal) && l.Contains("wrong_secret", StringComparison.Ordinal));
        Assert.DoesNotContain(logger.Lines, l => l.Contains(wrong, StringComparison.Ordinal) || l.Contains(secret, StringComparison.Ordinal));

        var stored = (await Auth.GetCredentialsAsync(device.Id, Ct)).SecretHash!;
        Assert.DoesNotContain(secret, stored, StringComparison.Ordinal);
    }

    private sealed class CapturingLogger : ILogger<DeviceAuthenticator>
    {
        public System.Collections.Concurrent.ConcurrentQueue<string> Lines { get; } = new();

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Enqueue(formatter(state, exception) + " " + state);
    }
}

/// <summary>Server-wide policy settings: each test starts a server of its own.</summary>
public sealed class DevicePolicyServerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task With_a_secret_required_an_unknown_device_registers_with_the_secret_it_presents_and_needs_it_afterwards()
    {
        await using var server = await DeviceServer.StartAsync("Auth:Require=Secret", "Auth:FailuresBeforeDelay=1000");
        var ident = Idents.New();
        var secret = DeviceSecrets.Generate();

        await using var first = await server.ConnectAlipAsync();
        Assert.Equal("ID 0", await first.AskAsync($"ID {ident}"));
        Assert.Null(await server.Devices.GetByIdentAsync(ident, Ct));
        Assert.Equal("ID 1", await first.AskAsync($"ID {ident} {secret}"));
        var device = await server.DeviceAsync(ident);
        var stored = (await server.Services.GetRequiredService<IDeviceAuthStore>().GetCredentialsAsync(device.Id, Ct)).SecretHash;
        Assert.NotNull(stored);
        Assert.DoesNotContain(secret, stored, StringComparison.Ordinal);

        await using var again = await server.ConnectAlipAsync();
        Assert.Equal("ID 0", await again.AskAsync($"ID {ident}"));
        Assert.Equal("ID 0", await again.AskAsync($"ID {ident} {DeviceSecrets.Generate()}"));
        Assert.Equal("ID 1", await again.AskAsync($"ID {ident} {secret}"));
    }

    [Fact]
    public async Task Auto_registration_is_limited_to_its_patterns()
    {
        await using var server = await DeviceServer.StartAsync("Auth:AutoRegisterPatterns:0=imei:35*", "Auth:AutoRegisterPatterns:1=sn:????", "Auth:FailuresBeforeDelay=1000");
        await using var device = await server.ConnectM2mpAsync();
        var matching = "imei:35" + Random.Shared.NextInt64(10_000_000, 99_999_999);
        var other = "imei:99" + Random.Shared.NextInt64(10_000_000, 99_999_999);

        Assert.Equal(0, (await IdentAsync(device, other)).Value);
        Assert.Equal(0, (await IdentAsync(device, "sn:12345")).Value);
        Assert.Null(await server.Devices.GetByIdentAsync(other, Ct));
        Assert.Equal(1, (await IdentAsync(device, matching)).Value);
        Assert.NotNull(await server.Devices.GetByIdentAsync(matching, Ct));
        await using var short4 = await server.ConnectM2mpAsync();
        Assert.Equal(1, (await IdentAsync(short4, "sn:1234")).Value);
    }

    [Fact]
    public async Task A_flood_of_new_idents_creates_devices_only_up_to_the_rate_and_the_rest_is_refused_and_counted()
    {
        await using var server = await DeviceServer.StartAsync("Auth:AutoRegisterPerMinute=3", "Auth:FailuresBeforeDelay=1000");
        using var refused = new MetricCapture("m2m.ingest.identifications.refused", "reason");
        var known = await server.Devices.CreateAsync(Idents.New(), cancellationToken: Ct);
        var idents = Enumerable.Range(0, 8).Select(_ => Idents.New()).ToList();

        var answers = new List<string?>();
        foreach (var ident in idents)
        {
            await using var device = await server.ConnectAlipAsync();
            answers.Add(await device.AskAsync($"ID {ident}"));
        }

        Assert.Equal(["ID 1", "ID 1", "ID 1", "ID 0", "ID 0", "ID 0", "ID 0", "ID 0"], answers);
        foreach (var ident in idents.Skip(3))
        {
            Assert.Null(await server.Devices.GetByIdentAsync(ident, Ct));
        }
        Assert.True(refused["auto_register_rate"] >= 5);
        // Known devices are not limited.
        await using var existing = await server.ConnectAlipAsync();
        Assert.Equal("ID 1", await existing.AskAsync($"ID {known.Ident}"));
    }

    [Fact]
    public async Task Repeated_failures_from_one_address_delay_its_identifications()
    {
        await using var server = await DeviceServer.StartAsync("AutoRegister=false", "Auth:FailuresBeforeDelay=2", "Auth:MaxFailureDelay=00:00:00.300");
        using var delayed = new MetricCapture("m2m.ingest.identifications.delayed", "protocol");
        var known = await server.Devices.CreateAsync(Idents.New(), cancellationToken: Ct);
        await using var device = await server.ConnectAlipAsync();
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal("ID 0", await device.AskAsync($"ID {Idents.New()}"));
        }

        // Over the threshold: the next identification waits first, then is decided as usual.
        Assert.Equal("ID 1", await device.AskAsync($"ID {known.Ident}"));
        Assert.True(delayed["alip"] >= 1, $"delayed: {delayed["alip"]}");
    }

    private static async Task<ServerFrame> IdentAsync(M2mpDevice device, string ident)
    {
        await device.SendIdentAsync(ident);
        var frame = (await device.ReadAsync())!;
        Assert.Equal(M2mpFrameKind.IdentificationResult, frame.Kind);
        return frame;
    }
}
