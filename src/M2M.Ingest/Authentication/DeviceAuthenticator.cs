using System.Net;
using System.Security.Cryptography.X509Certificates;
using M2M.Ingest.Connections;
using M2M.Storage.Entities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace M2M.Ingest.Authentication;

/// <summary>An identification to decide: what the connection presented.</summary>
/// <param name="Ident">The ident (format already checked by the protocol).</param>
/// <param name="Secret">The secret bytes as sent, or <c>null</c> when the identification carried none.</param>
/// <param name="Certificate">The TLS client certificate, or <c>null</c>.</param>
/// <param name="Address">The remote address (failure throttling), or <c>null</c>.</param>
/// <param name="Protocol">The protocol (metric tag).</param>
internal readonly record struct IdentificationAttempt(string Ident, ReadOnlyMemory<byte>? Secret, X509Certificate2? Certificate, IPAddress? Address, DeviceProtocol Protocol);

/// <summary>The outcome: the device, or why not.</summary>
internal readonly record struct IdentificationOutcome(Device? Device, IdentificationRefusal Refusal);

/// <summary>The TLS state the sessions need (set by the ingest server when the TLS listeners start).</summary>
internal sealed class IngestTls
{
    /// <summary>The certificates of the TLS listeners, or <c>null</c> when TLS is off.</summary>
    public TlsCertificates? Certificates { get; set; }
}

/// <summary>
/// Decides identifications (docs/device-authentication.md): finds the device, checks what the
/// connection presented against its credentials and its domain's policy, and auto-registers unknown
/// idents where a policy allows it, with the presented credentials (trust on first use), at a bounded
/// rate. Refusals are counted, logged without secrets, and slow down further attempts from their address.
/// </summary>
internal sealed class DeviceAuthenticator
{
    private readonly IDeviceStore _devices;
    private readonly IDomainStore _domains;
    private readonly IDeviceAuthStore _auth;
    private readonly IngestTls _tls;
    private readonly IngestOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly IdentificationThrottle _throttle;
    private readonly AutoRegistrationLimiter _limiter;
    private readonly SemaphoreSlim _tableLock = new(1, 1);
    private Guid? _defaultDomainId;
    private AutoRegistrationTable? _table;

    public DeviceAuthenticator(
        IDeviceStore devices,
        IDomainStore domains,
        IDeviceAuthStore auth,
        IngestTls tls,
        IOptions<IngestOptions> options,
        IServiceProvider services,
        ILogger<DeviceAuthenticator> logger)
    {
        _devices = devices;
        _domains = domains;
        _auth = auth;
        _tls = tls;
        _options = options.Value;
        _time = services.GetService<TimeProvider>() ?? TimeProvider.System;
        _logger = logger;
        _throttle = new IdentificationThrottle(_options.Auth, _time);
        _limiter = new AutoRegistrationLimiter(_time);
    }

    /// <summary>The server default policy (configuration).</summary>
    public EffectiveDevicePolicy ServerDefault => field ??= new(
        _options.Auth.Require, _options.AutoRegister, [.. _options.Auth.AutoRegisterPatterns], _options.Auth.AutoRegisterPerMinute);

    /// <summary>Decides <paramref name="attempt"/>. Throws <see cref="InvalidIdentException"/> for an ident the registry refuses.</summary>
    public async ValueTask<IdentificationOutcome> IdentifyAsync(IdentificationAttempt attempt, CancellationToken cancellationToken)
    {
        var delay = _throttle.DelayFor(attempt.Address);
        if (delay > TimeSpan.Zero)
        {
            AuthMetrics.Delayed.Add(1, IngestMetrics.Protocol(attempt.Protocol));
            await Task.Delay(delay, _time, cancellationToken);
        }

        var outcome = await DecideAsync(attempt, cancellationToken);
        if (outcome.Refusal != IdentificationRefusal.None)
        {
            _throttle.RecordFailure(attempt.Address);
            AuthMetrics.Refused.Add(1, IngestMetrics.Protocol(attempt.Protocol), new KeyValuePair<string, object?>("reason", AuthDecision.Tag(outcome.Refusal)));
            // The ident and the reason, never what was presented.
            _logger.LogInformation("Identification {Ident} from {Address} refused: {Reason}", attempt.Ident, attempt.Address, AuthDecision.Tag(outcome.Refusal));
        }
        return outcome;
    }

    private async ValueTask<IdentificationOutcome> DecideAsync(IdentificationAttempt attempt, CancellationToken cancellationToken)
    {
        // Twice at most: when auto-registration loses a race for the ident, the winner's device is checked.
        for (var round = 0; ; round++)
        {
            var device = await _devices.GetByIdentAsync(attempt.Ident, cancellationToken);
            if (device is not null)
            {
                return await CheckExistingAsync(device, attempt, cancellationToken);
            }
            var (created, refusal) = await TryAutoRegisterAsync(attempt, cancellationToken);
            if (created is not null || refusal != IdentificationRefusal.None || round > 0)
            {
                return new IdentificationOutcome(created, created is null && refusal == IdentificationRefusal.None ? IdentificationRefusal.UnknownDevice : refusal);
            }
        }
    }

    private async ValueTask<IdentificationOutcome> CheckExistingAsync(Device device, IdentificationAttempt attempt, CancellationToken cancellationToken)
    {
        DeviceCredentials credentials;
        try
        {
            credentials = await _auth.GetCredentialsAsync(device.Id, cancellationToken);
        }
        catch (EntityNotFoundException)
        {
            // Deleted between the two reads.
            return new IdentificationOutcome(null, IdentificationRefusal.UnknownDevice);
        }
        var policy = await PolicyOfAsync(device.DomainId, cancellationToken);

        var secret = PresentedSecret.None;
        if (attempt.Secret is { } presented)
        {
            secret = DeviceSecrets.IsWellFormed(presented.Span) && DeviceSecrets.Verify(presented.Span, credentials.SecretHash)
                ? PresentedSecret.Matches
                : PresentedSecret.Wrong;
        }
        var certificate = PresentedCertificate.None;
        if (attempt.Certificate is { } cert)
        {
            certificate = credentials.HasCertificate(DeviceCertificates.Thumbprint(cert)) || IsNamedByClientCa(cert, attempt.Ident)
                ? PresentedCertificate.Matches
                : PresentedCertificate.NoMatch;
        }
        var refusal = AuthDecision.Evaluate(policy.Require, !credentials.IsEmpty, secret, certificate);
        return new IdentificationOutcome(refusal == IdentificationRefusal.None ? device : null, refusal);
    }

    private async ValueTask<(Device? Created, IdentificationRefusal Refusal)> TryAutoRegisterAsync(IdentificationAttempt attempt, CancellationToken cancellationToken)
    {
        var table = await TableAsync(cancellationToken);
        var (target, ambiguous) = table.Find(attempt.Ident);
        if (ambiguous)
        {
            _logger.LogWarning("Ident {Ident} matches the auto-registration patterns of several domains; refused until an administrator fixes them", attempt.Ident);
            return (null, IdentificationRefusal.AutoRegisterAmbiguous);
        }
        if (target is null)
        {
            return (null, IdentificationRefusal.UnknownDevice);
        }

        // What the device presents becomes its credentials: trust on first use, bounded by the patterns and the rate.
        var secret = PresentedSecret.None;
        string? secretHash = null;
        if (attempt.Secret is { } presented)
        {
            if (DeviceSecrets.IsWellFormed(presented.Span))
            {
                secret = PresentedSecret.Matches;
                secretHash = DeviceSecrets.Hash(System.Text.Encoding.ASCII.GetString(presented.Span));
            }
            else
            {
                secret = PresentedSecret.Wrong;
            }
        }
        var certificate = PresentedCertificate.None;
        List<string> thumbprints = [];
        if (attempt.Certificate is { } cert)
        {
            if (IsIssuedByClientCa(cert) && CommonName(cert) != attempt.Ident)
            {
                // Issued by the CA to another ident: it proves nothing about this one, and is not pinned.
                certificate = PresentedCertificate.NoMatch;
            }
            else
            {
                // Issued to this ident by the CA, or self-signed: pinned, so that the device is
                // protected by its certificate whatever its domain's policy becomes.
                certificate = PresentedCertificate.Matches;
                thumbprints.Add(DeviceCertificates.Thumbprint(cert));
            }
        }
        var refusal = AuthDecision.Evaluate(target.Policy.Require, hasCredentials: false, secret, certificate);
        if (refusal != IdentificationRefusal.None)
        {
            return (null, refusal);
        }
        if (!_limiter.TryAcquire(target.DomainId, target.Policy.AutoRegisterPerMinute))
        {
            return (null, IdentificationRefusal.AutoRegisterRateLimited);
        }
        try
        {
            var seed = secretHash is null && thumbprints.Count == 0 ? null : new DeviceCredentialSeed(secretHash, thumbprints);
            // Its protocol in the same write: the session then has nothing more to write for a new device.
            var protocol = attempt.Protocol == Connections.DeviceProtocol.M2mp ? DeviceProtocols.M2mp : DeviceProtocols.Alip;
            var device = await _devices.CreateAsync(attempt.Ident, null, target.DomainId, seed, protocol, cancellationToken);
            AuthMetrics.AutoRegistered.Add(1, IngestMetrics.Protocol(attempt.Protocol));
            _logger.LogInformation("Device {Ident} auto-registered in domain {Domain} ({Credentials})", attempt.Ident, target.DomainName,
                seed is null ? "no credentials" : seed.SecretHash is not null ? "with its secret" : "with its certificate");
            return (device, IdentificationRefusal.None);
        }
        catch (DuplicateNameException)
        {
            // Another connection created it meanwhile: the caller checks against that device.
            return (null, IdentificationRefusal.None);
        }
        catch (EntityNotFoundException)
        {
            // The target domain was deleted since the table was read.
            return (null, IdentificationRefusal.UnknownDevice);
        }
    }

    private bool IsNamedByClientCa(X509Certificate2 certificate, string ident) =>
        CommonName(certificate) == ident && IsIssuedByClientCa(certificate);

    private bool IsIssuedByClientCa(X509Certificate2 certificate) =>
        _tls.Certificates is { } tls && tls.IsIssuedByClientCa(certificate);

    private static string CommonName(X509Certificate2 certificate) => certificate.GetNameInfo(X509NameType.SimpleName, forIssuer: false);

    /// <summary>The policy of the devices of <paramref name="domainId"/>.</summary>
    public async ValueTask<EffectiveDevicePolicy> PolicyOfAsync(Guid domainId, CancellationToken cancellationToken)
    {
        _defaultDomainId ??= (await _domains.EnsureDefaultAsync(cancellationToken)).Id;
        var stored = await _auth.GetDomainPolicyAsync(domainId, cancellationToken);
        return EffectiveDevicePolicy.Resolve(stored, ServerDefault, domainId == _defaultDomainId);
    }

    /// <summary>The domains that auto-register, cached for <see cref="DeviceAuthOptions.PolicyCacheDuration"/>.</summary>
    private async ValueTask<AutoRegistrationTable> TableAsync(CancellationToken cancellationToken)
    {
        var cached = Volatile.Read(ref _table);
        if (cached is not null && _time.GetElapsedTime(cached.ReadAt) < _options.Auth.PolicyCacheDuration)
        {
            return cached;
        }
        await _tableLock.WaitAsync(cancellationToken);
        try
        {
            cached = _table;
            if (cached is not null && _time.GetElapsedTime(cached.ReadAt) < _options.Auth.PolicyCacheDuration)
            {
                return cached;
            }
            var readAt = _time.GetTimestamp();
            var defaultDomain = await _domains.EnsureDefaultAsync(cancellationToken);
            _defaultDomainId = defaultDomain.Id;
            var entries = new List<AutoRegistrationTarget>();
            AutoRegistrationTarget? fallback = null;
            foreach (var domain in await _domains.ListAsync(cancellationToken))
            {
                var policy = await PolicyOfAsync(domain.Id, cancellationToken);
                if (!policy.AutoRegister)
                {
                    continue;
                }
                var target = new AutoRegistrationTarget(domain.Id, domain.Name, policy);
                if (domain.Id == defaultDomain.Id)
                {
                    fallback = target;
                }
                else
                {
                    entries.Add(target);
                }
            }
            var table = new AutoRegistrationTable(entries, fallback, readAt);
            Volatile.Write(ref _table, table);
            return table;
        }
        finally
        {
            _tableLock.Release();
        }
    }

    private sealed record AutoRegistrationTarget(Guid DomainId, string DomainName, EffectiveDevicePolicy Policy);

    /// <summary>
    /// Domains other than <c>default</c> whose patterns match an ident come first (more than one is
    /// ambiguous and refused); else the <c>default</c> domain when its policy allows the ident.
    /// </summary>
    private sealed record AutoRegistrationTable(IReadOnlyList<AutoRegistrationTarget> Domains, AutoRegistrationTarget? Default, long ReadAt)
    {
        public (AutoRegistrationTarget? Target, bool Ambiguous) Find(string ident)
        {
            AutoRegistrationTarget? found = null;
            foreach (var entry in Domains)
            {
                if (entry.Policy.AllowsAutoRegistration(ident))
                {
                    if (found is not null)
                    {
                        return (null, true);
                    }
                    found = entry;
                }
            }
            if (found is not null)
            {
                return (found, false);
            }
            return Default is not null && Default.Policy.AllowsAutoRegistration(ident) ? (Default, false) : (null, false);
        }
    }
}
