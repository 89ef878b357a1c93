using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using M2M.Api.Auth;
using M2M.Api.Http;
using M2M.Ingest;
using M2M.Messaging;
using M2M.Storage.Entities;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;

namespace M2M.Api.Apis;

/// <summary>
/// Device authentication (docs/device-authentication.md): a device's credentials —
/// <c>/api/devices/{id}/credentials</c>, <c>/secret</c>, <c>/certificates</c> — and the device
/// policy of a domain, <c>/api/domains/{id}/device-policy</c>. Secrets are stored hashed and shown
/// once, when the platform generates them. Every credential change closes the device's open
/// connections: they were authenticated with the old credentials.
/// </summary>
public static class DeviceAuthApi
{
    public static IEndpointRouteBuilder MapDeviceAuthApi(this IEndpointRouteBuilder routes)
    {
        var devices = routes.MapGroup("/devices/{id}").WithTags("Device authentication");
        devices.MapGet("/credentials", GetCredentialsAsync).WithSummary("Whether the device has a secret (never the secret) and its registered certificate thumbprints.");
        devices.MapPost("/secret", SetSecretAsync).WithSummary("Generate a new secret (shown once), or set one of your own ({\"secret\": …}).");
        devices.MapDelete("/secret", ClearSecretAsync).WithSummary("Remove the device's secret.");
        devices.MapPost("/certificates", AddCertificateAsync).WithSummary("Register a client certificate (its SHA-256 thumbprint, or the PEM certificate).");
        devices.MapDelete("/certificates/{thumbprint}", RemoveCertificateAsync).WithSummary("Remove a registered client certificate.");

        var domains = routes.MapGroup("/domains/{id}").WithTags("Device authentication");
        domains.MapGet("/device-policy", GetPolicyAsync).WithSummary("The device policy of a domain: what is stored and what applies (over the server default).");
        domains.MapPut("/device-policy", SetPolicyAsync).WithSummary("Replace the device policy of a domain (null fields: the server default).");
        return routes;
    }

    // ---- credentials ----

    internal static async Task<Results<Ok<DeviceCredentialsView>, NotFound, ValidationProblem>> GetCredentialsAsync(
        string id, [AsParameters] DeviceServices s, IDeviceAuthStore auth)
    {
        if (!Validation.TryParseId(id, "id", out var deviceId, out var invalid))
        {
            return invalid;
        }
        if (await s.FindAsync(deviceId) is null)
        {
            return TypedResults.NotFound();
        }
        return TypedResults.Ok(DeviceCredentialsView.From(await auth.GetCredentialsAsync(deviceId, s.Aborted)));
    }

    internal static async Task<Results<Ok<GeneratedSecret>, NoContent, NotFound, ValidationProblem>> SetSecretAsync(
        string id, SetSecretRequest request, [AsParameters] DeviceServices s, IDeviceAuthStore auth)
    {
        if (!Validation.TryParseId(id, "id", out var deviceId, out var invalid))
        {
            return invalid;
        }
        if (request.Secret is not null && DeviceSecrets.CheckStrength(request.Secret) is { } weak)
        {
            return Validation.Problem("secret", weak);
        }
        if (await s.FindAsync(deviceId) is null)
        {
            return TypedResults.NotFound();
        }
        var secret = request.Secret ?? DeviceSecrets.Generate();
        await auth.SetSecretHashAsync(deviceId, DeviceSecrets.Hash(secret), CancellationToken.None);
        await s.PushAsync(deviceId, Calls.Disconnect);
        return request.Secret is null ? TypedResults.Ok(new GeneratedSecret(secret)) : TypedResults.NoContent();
    }

    internal static async Task<Results<NoContent, NotFound, ValidationProblem, ProblemHttpResult>> ClearSecretAsync(
        string id, [AsParameters] DeviceServices s, IDeviceAuthStore auth)
    {
        if (!Validation.TryParseId(id, "id", out var deviceId, out var invalid))
        {
            return invalid;
        }
        if (await s.FindAsync(deviceId) is null)
        {
            return TypedResults.NotFound();
        }
        var credentials = await auth.GetCredentialsAsync(deviceId, s.Aborted);
        if (!credentials.HasSecret)
        {
            return TypedResults.NotFound();
        }
        if (!s.Caller.IsAdmin && credentials.Certificates.Count == 0)
        {
            return LastCredential();
        }
        await auth.ClearSecretAsync(deviceId, CancellationToken.None);
        await s.PushAsync(deviceId, Calls.Disconnect);
        return TypedResults.NoContent();
    }

    internal static async Task<Results<Created<DeviceCertificate>, Ok<DeviceCertificate>, NotFound, ValidationProblem>> AddCertificateAsync(
        string id, AddCertificateRequest request, [AsParameters] DeviceServices s, IDeviceAuthStore auth)
    {
        if (!Validation.TryParseId(id, "id", out var deviceId, out var invalid))
        {
            return invalid;
        }
        if (!TryThumbprint(request, out var thumbprint, out var problem))
        {
            return problem;
        }
        if (await s.FindAsync(deviceId) is null)
        {
            return TypedResults.NotFound();
        }
        bool added;
        try
        {
            added = await auth.AddCertificateAsync(deviceId, thumbprint, CancellationToken.None);
        }
        catch (ArgumentException e)
        {
            return Validation.Problem("thumbprint", e.Message);
        }
        var stored = (await auth.GetCredentialsAsync(deviceId, s.Aborted)).Certificates.First(c => c.Thumbprint == thumbprint);
        if (!added)
        {
            return TypedResults.Ok(stored);
        }
        await s.PushAsync(deviceId, Calls.Disconnect);
        return TypedResults.Created($"/api/devices/{deviceId:D}/certificates/{thumbprint}", stored);
    }

    internal static async Task<Results<NoContent, NotFound, ValidationProblem, ProblemHttpResult>> RemoveCertificateAsync(
        string id, string thumbprint, [AsParameters] DeviceServices s, IDeviceAuthStore auth)
    {
        if (!Validation.TryParseId(id, "id", out var deviceId, out var invalid))
        {
            return invalid;
        }
        if (DeviceCertificates.NormalizeThumbprint(thumbprint) is not { } normalized)
        {
            return Validation.Problem("thumbprint", "A thumbprint is the SHA-256 of the certificate: 64 hex digits.");
        }
        if (await s.FindAsync(deviceId) is null)
        {
            return TypedResults.NotFound();
        }
        var credentials = await auth.GetCredentialsAsync(deviceId, s.Aborted);
        if (!credentials.HasCertificate(normalized))
        {
            return TypedResults.NotFound();
        }
        if (!s.Caller.IsAdmin && !credentials.HasSecret && credentials.Certificates.Count == 1)
        {
            return LastCredential();
        }
        await auth.RemoveCertificateAsync(deviceId, normalized, CancellationToken.None);
        await s.PushAsync(deviceId, Calls.Disconnect);
        return TypedResults.NoContent();
    }

    /// <summary>
    /// A non-admin may not leave a device without credentials: such a device's ident would be free
    /// for any connection again, the pre-registration the creation rule forbids (docs/api.md).
    /// </summary>
    private static ProblemHttpResult LastCredential() => TypedResults.Problem(
        statusCode: StatusCodes.Status409Conflict,
        title: "This is the device's last credential; set another one first (only an administrator may leave a device without credentials).");

    /// <summary>The normalised thumbprint of a request: <c>thumbprint</c> (hex) or <c>certificate</c> (PEM), exactly one.</summary>
    internal static bool TryThumbprint(AddCertificateRequest request, out string thumbprint, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out ValidationProblem? problem)
    {
        thumbprint = "";
        problem = null;
        if ((request.Thumbprint is null) == (request.Certificate is null))
        {
            problem = Validation.Problem("thumbprint", "Give either 'thumbprint' (SHA-256, hex) or 'certificate' (PEM).");
            return false;
        }
        if (request.Thumbprint is not null)
        {
            if (DeviceCertificates.NormalizeThumbprint(request.Thumbprint) is not { } normalized)
            {
                problem = Validation.Problem("thumbprint", "A thumbprint is the SHA-256 of the certificate: 64 hex digits.");
                return false;
            }
            thumbprint = normalized;
            return true;
        }
        try
        {
            using var certificate = X509Certificate2.CreateFromPem(request.Certificate);
            thumbprint = DeviceCertificates.Thumbprint(certificate);
            return true;
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            problem = Validation.Problem("certificate", "Not a PEM certificate.");
            return false;
        }
    }

    // ---- domain policy ----

    internal static async Task<Results<Ok<DevicePolicyView>, NotFound, ValidationProblem>> GetPolicyAsync(
        string id, HttpContext http, IDomainStore domains, IDeviceAuthStore auth, IConfiguration configuration)
    {
        if (!Validation.TryParseId(id, "id", out var domainId, out var invalid))
        {
            return invalid;
        }
        var domain = await domains.GetAsync(domainId, http.RequestAborted);
        if (domain is null || !Caller.From(http.User).CanSee(domain.Id))
        {
            return TypedResults.NotFound();
        }
        return TypedResults.Ok(await ViewAsync(domain, domains, auth, configuration, http.RequestAborted));
    }

    internal static async Task<Results<Ok<DevicePolicyView>, NotFound, ValidationProblem, ProblemHttpResult>> SetPolicyAsync(
        string id, DomainDevicePolicy policy, HttpContext http, IDomainStore domains, IDeviceAuthStore auth, IConfiguration configuration)
    {
        if (!Validation.TryParseId(id, "id", out var domainId, out var invalid))
        {
            return invalid;
        }
        if (policy.Check() is { } error)
        {
            return Validation.Problem(error.StartsWith("autoRegisterPerMinute", StringComparison.Ordinal) ? "autoRegisterPerMinute" : "autoRegisterPatterns", error);
        }
        var caller = Caller.From(http.User);
        var domain = await domains.GetAsync(domainId, http.RequestAborted);
        if (domain is null || !caller.CanSee(domain.Id))
        {
            return TypedResults.NotFound();
        }
        var stored = await auth.GetDomainPolicyAsync(domainId, http.RequestAborted);
        if (!caller.IsAdmin && !SameAutoRegistration(stored, policy))
        {
            // Auto-registration decides which domain a new device lands in: the platform's decision, not a domain's.
            return TypedResults.Problem(statusCode: StatusCodes.Status403Forbidden,
                title: "Only an administrator may change auto-registration; a domain user may change 'require' only.");
        }
        await auth.SetDomainPolicyAsync(domainId, policy, CancellationToken.None);
        return TypedResults.Ok(await ViewAsync(domain, domains, auth, configuration, http.RequestAborted));
    }

    private static bool SameAutoRegistration(DomainDevicePolicy a, DomainDevicePolicy b) =>
        a.AutoRegister == b.AutoRegister
        && a.AutoRegisterPerMinute == b.AutoRegisterPerMinute
        && (a.AutoRegisterPatterns ?? []).SequenceEqual(b.AutoRegisterPatterns ?? [])
        && (a.AutoRegisterPatterns is null) == (b.AutoRegisterPatterns is null);

    private static async Task<DevicePolicyView> ViewAsync(Domain domain, IDomainStore domains, IDeviceAuthStore auth, IConfiguration configuration, CancellationToken cancellationToken)
    {
        var stored = await auth.GetDomainPolicyAsync(domain.Id, cancellationToken);
        var isDefault = domain.Name == IDomainStore.DefaultName;
        return new DevicePolicyView(domain.Name, stored, EffectiveDevicePolicy.Resolve(stored, ServerDefault(configuration), isDefault));
    }

    /// <summary>The server default policy from configuration (<c>M2M:Ingest</c>), as the ingest nodes read it.</summary>
    internal static EffectiveDevicePolicy ServerDefault(IConfiguration configuration)
    {
        var o = configuration.GetSection(IngestOptions.Section).Get<IngestOptions>() ?? new IngestOptions();
        return new EffectiveDevicePolicy(o.Auth.Require, o.AutoRegister, o.Auth.AutoRegisterPatterns, o.Auth.AutoRegisterPerMinute);
    }
}

/// <summary>A device's credentials as the API shows them: never the secret nor its hash.</summary>
/// <param name="HasSecret">Whether a secret is set.</param>
/// <param name="SecretSetAt">When it was set.</param>
/// <param name="Certificates">Registered client certificates.</param>
public sealed record DeviceCredentialsView(bool HasSecret, DateTimeOffset? SecretSetAt, IReadOnlyList<DeviceCertificate> Certificates)
{
    public static DeviceCredentialsView From(DeviceCredentials c) => new(c.HasSecret, c.SecretSetAt, c.Certificates);
}

/// <summary>A secret generated by the platform: shown in this answer only.</summary>
public sealed record GeneratedSecret(string Secret);

/// <summary>A new secret: absent or <c>null</c> to have one generated, else your own (strength checked).</summary>
public sealed record SetSecretRequest(string? Secret = null);

/// <summary>A client certificate to register: its SHA-256 thumbprint (hex) or the PEM certificate.</summary>
public sealed record AddCertificateRequest(string? Thumbprint = null, string? Certificate = null);

/// <summary>A domain's device policy: what is stored (<c>null</c> fields inherit) and what applies.</summary>
public sealed record DevicePolicyView(string Domain, DomainDevicePolicy Policy, EffectiveDevicePolicy Effective);
