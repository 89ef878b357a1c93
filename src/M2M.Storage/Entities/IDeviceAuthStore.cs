namespace M2M.Storage.Entities;

/// <summary>
/// Device credentials (<c>/device/&lt;id&gt;/.credentials/</c>: the secret's hash, client-certificate
/// thumbprints) and the device policy of each domain (<c>/domain/&lt;id&gt;/device-policy/</c>).
/// </summary>
public interface IDeviceAuthStore
{
    /// <summary>The credentials of a device (<see cref="DeviceCredentials.None"/> when it has none).</summary>
    /// <exception cref="EntityNotFoundException">Unknown or deleted device.</exception>
    ValueTask<DeviceCredentials> GetCredentialsAsync(Guid deviceId, CancellationToken cancellationToken = default);

    /// <summary>Sets (or replaces) the device's secret, given in its stored form (<see cref="DeviceSecrets.Hash"/>).</summary>
    /// <exception cref="EntityNotFoundException">Unknown or deleted device.</exception>
    ValueTask SetSecretHashAsync(Guid deviceId, string secretHash, CancellationToken cancellationToken = default);

    /// <summary>Removes the device's secret; <c>false</c> when it had none.</summary>
    /// <exception cref="EntityNotFoundException">Unknown or deleted device.</exception>
    ValueTask<bool> ClearSecretAsync(Guid deviceId, CancellationToken cancellationToken = default);

    /// <summary>Registers a client-certificate thumbprint (normalised); <c>false</c> when it was already registered.</summary>
    /// <exception cref="EntityNotFoundException">Unknown or deleted device.</exception>
    /// <exception cref="ArgumentException">Not a SHA-256 thumbprint, or the device already has <see cref="DeviceCertificates.MaxPerDevice"/>.</exception>
    ValueTask<bool> AddCertificateAsync(Guid deviceId, string thumbprint, CancellationToken cancellationToken = default);

    /// <summary>Removes a thumbprint; <c>false</c> when it was not registered.</summary>
    /// <exception cref="EntityNotFoundException">Unknown or deleted device.</exception>
    ValueTask<bool> RemoveCertificateAsync(Guid deviceId, string thumbprint, CancellationToken cancellationToken = default);

    /// <summary>The policy stored for a domain (<see cref="DomainDevicePolicy.Inherit"/> when none, or for an unknown domain).</summary>
    ValueTask<DomainDevicePolicy> GetDomainPolicyAsync(Guid domainId, CancellationToken cancellationToken = default);

    /// <summary>Replaces the policy stored for a domain (<c>null</c> fields: the server default).</summary>
    /// <exception cref="EntityNotFoundException">Unknown or deleted domain.</exception>
    /// <exception cref="ArgumentException">Invalid policy (<see cref="DomainDevicePolicy.Check"/>).</exception>
    ValueTask SetDomainPolicyAsync(Guid domainId, DomainDevicePolicy policy, CancellationToken cancellationToken = default);
}
