using System.Globalization;
using M2M.Storage.Registry;

namespace M2M.Storage.Entities;

/// <summary>
/// <see cref="IDeviceAuthStore"/> over any <see cref="IRegistry"/>. A device's credentials are the
/// hidden child <c>.credentials</c> of its node (left out of ordinary listings, deleted with the
/// device): <c>secret</c> (the hash), <c>secret_date</c>, and one <c>cert.&lt;sha256 hex&gt;</c> per
/// registered certificate (value: when it was added). A domain's policy is its child
/// <c>device-policy</c>: <c>require</c>, <c>auto_register</c>, <c>auto_register_patterns</c>
/// (space-separated), <c>auto_register_per_minute</c>; an absent value takes the server default.
/// </summary>
public sealed class DeviceAuthStore(IRegistry registry, TimeProvider? timeProvider = null) : IDeviceAuthStore
{
    private const string Secret = "secret";
    private const string SecretDate = "secret_date";
    private const string CertPrefix = "cert.";
    private const string Require = "require";
    private const string AutoRegister = "auto_register";
    private const string Patterns = "auto_register_patterns";
    private const string PerMinute = "auto_register_per_minute";

    private readonly TimeProvider _time = timeProvider ?? TimeProvider.System;

    /// <summary><c>/device/&lt;id&gt;/.credentials/</c>.</summary>
    public static RegistryPath CredentialsNode(Guid deviceId) => EntityPaths.Device(deviceId).Child(".credentials");

    /// <summary><c>/domain/&lt;id&gt;/device-policy/</c>.</summary>
    public static RegistryPath PolicyNode(Guid domainId) => EntityPaths.Domain(domainId).Child("device-policy");

    /// <summary>Adds the values of <paramref name="seed"/> for device <paramref name="deviceId"/> to a batch (device creation).</summary>
    internal static void AddSeed(RegistryBatch batch, Guid deviceId, DeviceCredentialSeed seed, DateTimeOffset now)
    {
        var node = CredentialsNode(deviceId);
        var stamp = EntityValues.FormatTime(now);
        if (seed.SecretHash is { } hash)
        {
            batch.SetValue(node, Secret, hash).SetValue(node, SecretDate, stamp);
        }
        foreach (var thumbprint in seed.Thumbprints)
        {
            batch.SetValue(node, CertPrefix + Normalize(thumbprint), stamp);
        }
    }

    private DateTimeOffset Now => DateTimeOffset.FromUnixTimeMilliseconds(_time.GetUtcNow().ToUnixTimeMilliseconds());

    private async ValueTask EnsureDeviceAsync(Guid deviceId, CancellationToken cancellationToken)
    {
        if (await registry.GetStatusAsync(EntityPaths.Device(deviceId), cancellationToken).ConfigureAwait(false) != RegistryNodeStatus.Created)
        {
            throw new EntityNotFoundException("device", deviceId.ToString("D"));
        }
    }

    private static string Normalize(string thumbprint) =>
        DeviceCertificates.NormalizeThumbprint(thumbprint) ?? throw new ArgumentException("A thumbprint is the SHA-256 of the certificate: 64 hex digits.", nameof(thumbprint));

    public async ValueTask<DeviceCredentials> GetCredentialsAsync(Guid deviceId, CancellationToken cancellationToken = default)
    {
        await EnsureDeviceAsync(deviceId, cancellationToken).ConfigureAwait(false);
        var values = await registry.GetValuesAsync(CredentialsNode(deviceId), cancellationToken).ConfigureAwait(false);
        if (values.Count == 0)
        {
            return DeviceCredentials.None;
        }
        var certificates = new List<DeviceCertificate>();
        foreach (var (name, value) in values)
        {
            if (name.StartsWith(CertPrefix, StringComparison.Ordinal))
            {
                certificates.Add(new DeviceCertificate(name[CertPrefix.Length..], RegistryValueExtensions.ParseTime(value) ?? DateTimeOffset.UnixEpoch));
            }
        }
        certificates.Sort((a, b) => string.CompareOrdinal(a.Thumbprint, b.Thumbprint));
        return new DeviceCredentials(EntityValues.Text(values, Secret), EntityValues.Time(values, SecretDate), certificates);
    }

    public async ValueTask SetSecretHashAsync(Guid deviceId, string secretHash, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(secretHash);
        await EnsureDeviceAsync(deviceId, cancellationToken).ConfigureAwait(false);
        await registry.SetValuesAsync(CredentialsNode(deviceId), new Dictionary<string, string>
        {
            [Secret] = secretHash,
            [SecretDate] = EntityValues.FormatTime(Now),
        }, cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<bool> ClearSecretAsync(Guid deviceId, CancellationToken cancellationToken = default)
    {
        await EnsureDeviceAsync(deviceId, cancellationToken).ConfigureAwait(false);
        var node = CredentialsNode(deviceId);
        if (await registry.GetValueAsync(node, Secret, cancellationToken).ConfigureAwait(false) is null)
        {
            return false;
        }
        await registry.DeleteValuesAsync(node, [Secret, SecretDate], cancellationToken).ConfigureAwait(false);
        return true;
    }

    public async ValueTask<bool> AddCertificateAsync(Guid deviceId, string thumbprint, CancellationToken cancellationToken = default)
    {
        var name = CertPrefix + Normalize(thumbprint);
        var current = await GetCredentialsAsync(deviceId, cancellationToken).ConfigureAwait(false);
        if (current.HasCertificate(name[CertPrefix.Length..]))
        {
            return false;
        }
        if (current.Certificates.Count >= DeviceCertificates.MaxPerDevice)
        {
            throw new ArgumentException($"A device has at most {DeviceCertificates.MaxPerDevice} certificates.", nameof(thumbprint));
        }
        return await registry.CompareAndSetValueAsync(CredentialsNode(deviceId), name, null, EntityValues.FormatTime(Now), cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<bool> RemoveCertificateAsync(Guid deviceId, string thumbprint, CancellationToken cancellationToken = default)
    {
        if (DeviceCertificates.NormalizeThumbprint(thumbprint) is not { } normalized)
        {
            return false;
        }
        await EnsureDeviceAsync(deviceId, cancellationToken).ConfigureAwait(false);
        return await registry.DeleteValueAsync(CredentialsNode(deviceId), CertPrefix + normalized, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<DomainDevicePolicy> GetDomainPolicyAsync(Guid domainId, CancellationToken cancellationToken = default)
    {
        var values = await registry.GetValuesAsync(PolicyNode(domainId), cancellationToken).ConfigureAwait(false);
        if (values.Count == 0)
        {
            return DomainDevicePolicy.Inherit;
        }
        return new DomainDevicePolicy(
            values.TryGetValue(Require, out var require) && Enum.TryParse<DeviceAuthRequirement>(require, ignoreCase: true, out var r) ? r : null,
            values.TryGetValue(AutoRegister, out var auto) ? auto == "1" : null,
            values.TryGetValue(Patterns, out var patterns) ? patterns.Split(' ', StringSplitOptions.RemoveEmptyEntries) : null,
            values.TryGetValue(PerMinute, out var perMinute) && int.TryParse(perMinute, NumberStyles.None, CultureInfo.InvariantCulture, out var p) ? p : null);
    }

    public async ValueTask SetDomainPolicyAsync(Guid domainId, DomainDevicePolicy policy, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(policy);
        if (policy.Check() is { } error)
        {
            throw new ArgumentException(error, nameof(policy));
        }
        if (await registry.GetStatusAsync(EntityPaths.Domain(domainId), cancellationToken).ConfigureAwait(false) != RegistryNodeStatus.Created)
        {
            throw new EntityNotFoundException("domain", domainId.ToString("D"));
        }
        var node = PolicyNode(domainId);
        var batch = new RegistryBatch();
        Put(batch, node, Require, policy.Require?.ToString().ToLowerInvariant());
        Put(batch, node, AutoRegister, policy.AutoRegister is { } a ? (a ? "1" : "0") : null);
        Put(batch, node, Patterns, policy.AutoRegisterPatterns is { } list ? string.Join(' ', list) : null);
        Put(batch, node, PerMinute, policy.AutoRegisterPerMinute?.ToString(CultureInfo.InvariantCulture));
        await registry.WriteAsync(batch, cancellationToken).ConfigureAwait(false);
    }

    private static void Put(RegistryBatch batch, RegistryPath node, string name, string? value)
    {
        if (value is null)
        {
            batch.DeleteValue(node, name);
        }
        else
        {
            batch.SetValue(node, name, value);
        }
    }
}
