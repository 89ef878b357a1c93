using M2M.Storage.Entities;

namespace M2M.Ingest.Authentication;

/// <summary>
/// The server default of the device policy and the protections of identification (configuration
/// <c>M2M:Ingest:Auth</c>). A domain's stored policy overrides the policy fields for its devices.
/// </summary>
public sealed class DeviceAuthOptions
{
    /// <summary>What a device must present unless its domain says otherwise (default: nothing — the first-run mode).</summary>
    public DeviceAuthRequirement Require { get; set; } = DeviceAuthRequirement.None;

    /// <summary>Ident patterns (<c>*</c>, <c>?</c>) auto-registration into the <c>default</c> domain is limited to; empty = any ident.</summary>
    public List<string> AutoRegisterPatterns { get; set; } = [];

    /// <summary>Devices auto-registration may create per minute and domain on this node (also the burst); 0 = no limit.</summary>
    public int AutoRegisterPerMinute { get; set; } = 600;

    /// <summary>Refused identifications an address may have within <see cref="FailureWindow"/> before its identifications are delayed.</summary>
    public int FailuresBeforeDelay { get; set; } = 10;

    /// <summary>How long refused identifications of an address are remembered.</summary>
    public TimeSpan FailureWindow { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Longest delay put before an identification of an address with too many failures (it doubles from 250 ms per failure).</summary>
    public TimeSpan MaxFailureDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Addresses whose failures are remembered at most (memory bound).</summary>
    public int MaxTrackedAddresses { get; set; } = 100_000;

    /// <summary>How long the table of domains that auto-register (their patterns) is cached; 0 = read at every unknown ident.</summary>
    public TimeSpan PolicyCacheDuration { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>Whether TLS listeners ask devices for a client certificate.</summary>
public enum ClientCertificateMode
{
    /// <summary>Not asked: devices authenticate by secret or not at all.</summary>
    None,

    /// <summary>Asked; a device may connect without one.</summary>
    Allow,

    /// <summary>Asked; the TLS handshake fails without one.</summary>
    Require,
}

/// <summary>The TLS listeners (configuration <c>M2M:Ingest:Tls</c>).</summary>
public sealed class IngestTlsOptions
{
    /// <summary>Whether the TLS listeners are started.</summary>
    public bool Enabled { get; set; }

    /// <summary>M2MP over TLS; 0 picks a free port.</summary>
    public int M2mpPort { get; set; } = 3011;

    /// <summary>ALIP over TLS; 0 picks a free port.</summary>
    public int AlipPort { get; set; } = 3051;

    /// <summary>The server certificate: a PKCS#12 (PFX) file, or a PEM certificate (chain) file with <see cref="KeyPath"/> (or the key in the same file).</summary>
    public string? CertificatePath { get; set; }

    /// <summary>Password of the PFX file, or of an encrypted PEM key.</summary>
    public string? CertificatePassword { get; set; }

    /// <summary>PEM private key of a PEM certificate.</summary>
    public string? KeyPath { get; set; }

    /// <summary>Whether devices are asked for a client certificate.</summary>
    public ClientCertificateMode ClientCertificates { get; set; } = ClientCertificateMode.None;

    /// <summary>
    /// PEM file of the CA certificates (root and intermediates) that issue device certificates. A
    /// certificate that chains to one of them authenticates the device named by its subject CN;
    /// without it, only thumbprints registered for a device authenticate (pinning).
    /// </summary>
    public string? ClientCaPath { get; set; }

    /// <summary>A TLS handshake that takes longer is abandoned.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often the certificate files are checked for changes (a changed file is reloaded without a restart).</summary>
    public TimeSpan ReloadInterval { get; set; } = TimeSpan.FromMinutes(1);
}
