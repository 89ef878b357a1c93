namespace M2M.Storage.Entities;

/// <summary>What a device must present at identification (<c>require</c> of a device policy).</summary>
public enum DeviceAuthRequirement
{
    /// <summary>Nothing: the ident is enough — unless the device has credentials registered, which it must then present.</summary>
    None,

    /// <summary>Its per-device secret.</summary>
    Secret,

    /// <summary>A TLS client certificate mapped to it.</summary>
    Certificate,

    /// <summary>Its secret or a certificate mapped to it.</summary>
    Either,
}

/// <summary>The credentials registered for a device (never the secret itself: its hash).</summary>
/// <param name="SecretHash">Stored form of the secret (<see cref="DeviceSecrets.Hash"/>), or <c>null</c>.</param>
/// <param name="SecretSetAt">When the secret was set.</param>
/// <param name="Certificates">Registered client-certificate thumbprints.</param>
public sealed record DeviceCredentials(string? SecretHash, DateTimeOffset? SecretSetAt, IReadOnlyList<DeviceCertificate> Certificates)
{
    /// <summary>No credential at all.</summary>
    public static readonly DeviceCredentials None = new(null, null, []);

    /// <summary>Whether a secret is registered.</summary>
    public bool HasSecret => SecretHash is not null;

    /// <summary>Whether nothing is registered (the device is not authenticated by anything).</summary>
    public bool IsEmpty => SecretHash is null && Certificates.Count == 0;

    /// <summary>Whether <paramref name="thumbprint"/> (normalised, see <see cref="DeviceCertificates.NormalizeThumbprint"/>) is registered.</summary>
    public bool HasCertificate(string thumbprint)
    {
        foreach (var certificate in Certificates)
        {
            if (certificate.Thumbprint == thumbprint)
            {
                return true;
            }
        }
        return false;
    }
}

/// <summary>A client certificate registered for a device.</summary>
/// <param name="Thumbprint">SHA-256 of the DER certificate, 64 lowercase hex digits.</param>
/// <param name="AddedAt">When it was registered.</param>
public sealed record DeviceCertificate(string Thumbprint, DateTimeOffset AddedAt);

/// <summary>Credentials written together with a new device (one atomic write).</summary>
/// <param name="SecretHash">Stored form of its secret, or <c>null</c>.</param>
/// <param name="Thumbprints">Normalised thumbprints of its client certificates.</param>
public sealed record DeviceCredentialSeed(string? SecretHash, IReadOnlyList<string> Thumbprints)
{
    /// <summary>Whether the seed holds nothing.</summary>
    public bool IsEmpty => SecretHash is null && Thumbprints.Count == 0;
}

/// <summary>Thumbprints of client certificates.</summary>
public static class DeviceCertificates
{
    /// <summary>Most certificates registered for one device.</summary>
    public const int MaxPerDevice = 16;

    /// <summary>
    /// A SHA-256 thumbprint as stored (64 lowercase hex digits), from hex in any case with optional
    /// <c>:</c>, <c>-</c> or space separators; <c>null</c> when it is not 32 bytes of hex.
    /// </summary>
    public static string? NormalizeThumbprint(string? text)
    {
        if (text is null || text.Length > 200)
        {
            return null;
        }
        Span<char> digits = stackalloc char[64];
        var n = 0;
        foreach (var c in text)
        {
            if (c is ':' or '-' or ' ')
            {
                continue;
            }
            if (!char.IsAsciiHexDigit(c) || n == digits.Length)
            {
                return null;
            }
            digits[n++] = char.ToLowerInvariant(c);
        }
        return n == digits.Length ? new string(digits) : null;
    }

    /// <summary>The thumbprint of <paramref name="certificate"/>: SHA-256 of its DER encoding, lowercase hex.</summary>
    public static string Thumbprint(System.Security.Cryptography.X509Certificates.X509Certificate2 certificate) =>
        certificate.GetCertHashString(System.Security.Cryptography.HashAlgorithmName.SHA256).ToLowerInvariant();
}

/// <summary>
/// The device policy stored for a domain; a <c>null</c> field takes the server default
/// (<see cref="EffectiveDevicePolicy.Resolve"/>).
/// </summary>
/// <param name="Require">What its devices must present.</param>
/// <param name="AutoRegister">Whether unknown idents matching <paramref name="AutoRegisterPatterns"/> create devices in this domain.</param>
/// <param name="AutoRegisterPatterns">Ident patterns (<see cref="IdentPattern"/>) auto-registration is limited to.</param>
/// <param name="AutoRegisterPerMinute">Devices auto-registration may create per minute (per ingest node); 0 = no limit.</param>
public sealed record DomainDevicePolicy(
    DeviceAuthRequirement? Require = null,
    bool? AutoRegister = null,
    IReadOnlyList<string>? AutoRegisterPatterns = null,
    int? AutoRegisterPerMinute = null)
{
    /// <summary>Nothing stored: every field from the server default.</summary>
    public static readonly DomainDevicePolicy Inherit = new();

    /// <summary>Why the policy is invalid, or <c>null</c>.</summary>
    public string? Check()
    {
        if (AutoRegisterPerMinute is < 0 or > 1_000_000)
        {
            return "autoRegisterPerMinute must be in 0..1000000.";
        }
        if (AutoRegisterPatterns is { } patterns)
        {
            if (patterns.Count > IdentPattern.MaxCount)
            {
                return $"At most {IdentPattern.MaxCount} patterns.";
            }
            foreach (var pattern in patterns)
            {
                if (IdentPattern.Check(pattern) is { } error)
                {
                    return error;
                }
            }
        }
        return null;
    }
}

/// <summary>The policy that applies to the devices of a domain: its stored fields over the server default.</summary>
/// <param name="Require">What its devices must present.</param>
/// <param name="AutoRegister">Whether unknown idents may create devices in this domain.</param>
/// <param name="AutoRegisterPatterns">Patterns an unknown ident must match (empty: any, for the <c>default</c> domain only).</param>
/// <param name="AutoRegisterPerMinute">Creation rate limit per ingest node; 0 = none.</param>
public sealed record EffectiveDevicePolicy(
    DeviceAuthRequirement Require,
    bool AutoRegister,
    IReadOnlyList<string> AutoRegisterPatterns,
    int AutoRegisterPerMinute)
{
    /// <summary>
    /// Stored fields win over <paramref name="serverDefault"/>. Auto-registration defaults to the
    /// server's for the <c>default</c> domain and to off elsewhere; a domain other than
    /// <c>default</c> auto-registers only idents matching one of its own patterns (never "any").
    /// </summary>
    public static EffectiveDevicePolicy Resolve(DomainDevicePolicy stored, EffectiveDevicePolicy serverDefault, bool isDefaultDomain)
    {
        ArgumentNullException.ThrowIfNull(stored);
        ArgumentNullException.ThrowIfNull(serverDefault);
        var patterns = stored.AutoRegisterPatterns ?? (isDefaultDomain ? serverDefault.AutoRegisterPatterns : []);
        var autoRegister = stored.AutoRegister ?? (isDefaultDomain && serverDefault.AutoRegister);
        if (!isDefaultDomain && patterns.Count == 0)
        {
            autoRegister = false;
        }
        return new EffectiveDevicePolicy(
            stored.Require ?? serverDefault.Require,
            autoRegister,
            patterns,
            stored.AutoRegisterPerMinute ?? serverDefault.AutoRegisterPerMinute);
    }

    /// <summary>Whether an unknown <paramref name="ident"/> may be auto-registered under this policy (rate aside).</summary>
    public bool AllowsAutoRegistration(string ident) => AutoRegister && IdentPattern.MatchesAny(AutoRegisterPatterns, ident);
}
