using M2M.Storage.Entities;

namespace M2M.Ingest.Authentication;

/// <summary>What the connection presented as a secret, checked against the device.</summary>
public enum PresentedSecret
{
    /// <summary>No secret in the identification.</summary>
    None,

    /// <summary>It matches the device's secret (for a new device: it is well formed and becomes its secret).</summary>
    Matches,

    /// <summary>Malformed, or not the device's secret (also when the device has none).</summary>
    Wrong,
}

/// <summary>What the connection's TLS client certificate proves about the device.</summary>
public enum PresentedCertificate
{
    /// <summary>No client certificate (plain TCP, or none sent).</summary>
    None,

    /// <summary>
    /// Its thumbprint is registered for the device, or it chains to the configured client CA and its
    /// subject CN is the ident (for a new device: also a certificate not issued by the CA, which is pinned).
    /// </summary>
    Matches,

    /// <summary>A certificate that proves nothing about this device (ignored, never an error by itself).</summary>
    NoMatch,
}

/// <summary>Why an identification was refused (the <c>reason</c> tag of the metric).</summary>
public enum IdentificationRefusal
{
    /// <summary>Accepted.</summary>
    None,

    /// <summary>Unknown ident and no domain auto-registers it.</summary>
    UnknownDevice,

    /// <summary>A secret was presented and it is not the device's.</summary>
    WrongSecret,

    /// <summary>The device has credentials and the connection presented none of them.</summary>
    CredentialsRequired,

    /// <summary>The domain's policy asks for a kind of credential the connection did not present.</summary>
    PolicyNotMet,

    /// <summary>Auto-registration of the ident's domain is over its rate.</summary>
    AutoRegisterRateLimited,

    /// <summary>More than one domain auto-registers the ident (an administrator must fix the patterns).</summary>
    AutoRegisterAmbiguous,
}

/// <summary>The rules of device authentication at identification, free of I/O (docs/device-authentication.md).</summary>
public static class AuthDecision
{
    /// <summary>
    /// Decides an identification. In this order: a wrong secret is refused; a device with
    /// credentials (<paramref name="hasCredentials"/>) must be authenticated by one of them —
    /// whatever its policy, so that knowing an ident never takes over a device; then the policy's
    /// <paramref name="required"/> kind must have been presented. A device being auto-registered is
    /// decided with <paramref name="hasCredentials"/> <c>false</c>.
    /// </summary>
    public static IdentificationRefusal Evaluate(DeviceAuthRequirement required, bool hasCredentials, PresentedSecret secret, PresentedCertificate certificate)
    {
        if (secret == PresentedSecret.Wrong)
        {
            return IdentificationRefusal.WrongSecret;
        }
        var bySecret = secret == PresentedSecret.Matches;
        var byCertificate = certificate == PresentedCertificate.Matches;
        if (hasCredentials && !bySecret && !byCertificate)
        {
            return IdentificationRefusal.CredentialsRequired;
        }
        var satisfied = required switch
        {
            DeviceAuthRequirement.None => true,
            DeviceAuthRequirement.Secret => bySecret,
            DeviceAuthRequirement.Certificate => byCertificate,
            _ => bySecret || byCertificate,
        };
        return satisfied ? IdentificationRefusal.None : IdentificationRefusal.PolicyNotMet;
    }

    /// <summary>The metric tag of a refusal.</summary>
    public static string Tag(IdentificationRefusal refusal) => refusal switch
    {
        IdentificationRefusal.None => "accepted",
        IdentificationRefusal.UnknownDevice => "unknown_device",
        IdentificationRefusal.WrongSecret => "wrong_secret",
        IdentificationRefusal.CredentialsRequired => "credentials_required",
        IdentificationRefusal.PolicyNotMet => "policy_not_met",
        IdentificationRefusal.AutoRegisterRateLimited => "auto_register_rate",
        IdentificationRefusal.AutoRegisterAmbiguous => "auto_register_ambiguous",
        _ => "other",
    };
}
