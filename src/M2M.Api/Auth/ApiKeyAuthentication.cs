using System.Security.Claims;
using System.Text.Encodings.Web;
using M2M.Storage.Entities;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace M2M.Api.Auth;

/// <summary>
/// Authenticates <c>Authorization: Bearer m2mk_…</c>: one store read per request (no cache, so a
/// revoked key is refused at once on every node), the keyed hash compared in constant time, the
/// expiry and the key's domain checked. The caller is then a member of the key's domain with role
/// <see cref="ApiKeyRole"/> and the key's scope; the last-used time is written at most once a minute.
/// </summary>
internal sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory loggerFactory,
    UrlEncoder encoder,
    IApiKeyStore keys,
    IDomainStore domains,
    CredentialHasher hasher,
    TimeProvider time)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, loggerFactory, encoder)
{
    public const string SchemeName = "ApiKey";

    /// <summary>The role of a caller authenticated by an API key (never <c>admin</c>).</summary>
    public const string ApiKeyRole = "apikey";

    /// <summary>How stale the recorded last-used time may get: one write per key and minute at most, whatever the traffic.</summary>
    public static readonly TimeSpan LastUsedGranularity = TimeSpan.FromMinutes(1);

    /// <summary>Whether the request carries an API key rather than an access token.</summary>
    public static bool CarriesApiKey(HttpContext context)
        => BearerCredential(context) is { } credential && credential.StartsWith(CredentialToken.ApiKeyPrefix, StringComparison.Ordinal);

    private static string? BearerCredential(HttpContext context)
    {
        var header = context.Request.Headers.Authorization.ToString();
        return header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header[7..].Trim() : null;
    }

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var credential = BearerCredential(Context);
        if (credential is null || !credential.StartsWith(CredentialToken.ApiKeyPrefix, StringComparison.Ordinal))
        {
            return AuthenticateResult.NoResult();
        }
        var cancellationToken = Context.RequestAborted;
        if (!CredentialToken.TryParse(CredentialToken.ApiKeyPrefix, credential, out var id)
            || await keys.GetAsync(id, cancellationToken) is not { } key
            || !hasher.Matches(credential, key.SecretHash))
        {
            return AuthenticateResult.Fail("Unknown or revoked API key.");
        }
        var now = time.GetUtcNow();
        if (key.IsExpired(now))
        {
            return AuthenticateResult.Fail("Expired API key.");
        }
        if (await domains.GetAsync(key.DomainId, cancellationToken) is null)
        {
            return AuthenticateResult.Fail("The API key's domain no longer exists.");
        }
        if (key.LastUsedAt is not { } last || now - last >= LastUsedGranularity)
        {
            await keys.RecordUseAsync(id, now, cancellationToken);
        }
        var identity = new ClaimsIdentity(
            [
                new Claim(CallerClaims.UserId, key.Id.ToString("D")),
                new Claim(CallerClaims.Name, key.Name),
                new Claim(CallerClaims.Role, ApiKeyRole),
                new Claim(CallerClaims.Domain, key.DomainId.ToString("D")),
                new Claim(CallerClaims.Scope, key.Scope),
            ],
            SchemeName,
            CallerClaims.Name,
            CallerClaims.Role);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var result = await HandleAuthenticateOnceSafeAsync();
        await BearerChallenge.WriteAsync(Context, failed: result.Failure is not null);
    }
}

/// <summary>
/// Part of every API route's policy: a caller with a scope (an API key) may use GET and HEAD with
/// <c>read</c>, every method with <c>write</c>. Callers without a scope (users) are not concerned;
/// the admin-only routes stay closed to keys through their role.
/// </summary>
internal sealed class ApiKeyScopeRequirement : AuthorizationHandler<ApiKeyScopeRequirement>, IAuthorizationRequirement
{
    protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, ApiKeyScopeRequirement requirement)
    {
        var scope = context.User.FindFirstValue(CallerClaims.Scope);
        var method = (context.Resource as HttpContext)?.Request.Method;
        if (scope is null
            || scope == ApiKeyScopes.Write
            || (scope == ApiKeyScopes.Read && (HttpMethods.IsGet(method ?? "") || HttpMethods.IsHead(method ?? ""))))
        {
            context.Succeed(requirement);
        }
        return Task.CompletedTask;
    }
}
