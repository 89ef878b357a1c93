using System.Security.Claims;
using M2M.Storage.Entities;

namespace M2M.Api.Auth;

/// <summary>Claim names of the API's tokens.</summary>
public static class CallerClaims
{
    public const string UserId = "sub";
    public const string Name = "name";
    public const string Role = "role";
    public const string Domain = "domain";

    /// <summary>Scope of an API key (<c>read</c> / <c>write</c>); absent for users.</summary>
    public const string Scope = "scope";
}

/// <summary>
/// Who is calling, from the token: an <c>admin</c> sees every domain; anyone else sees only the
/// devices of their own domain (others answer 404, as if they did not exist). For an API key,
/// <see cref="UserId"/> is the key's id, <see cref="Role"/> is <c>apikey</c> and <see cref="Scope"/>
/// its scope.
/// </summary>
public sealed record Caller(
    Guid UserId,
    string Name,
    string Role,
    Guid DomainId,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] string? Scope = null)
{
    public bool IsAdmin => Role == UserRoles.Admin;

    /// <summary>Whether the caller may see and change things of domain <paramref name="domainId"/>.</summary>
    public bool CanSee(Guid domainId) => IsAdmin || domainId == DomainId;

    public static Caller From(User user) => new(user.Id, user.Name, user.Role, user.DomainId);

    /// <summary>The caller of an authenticated request.</summary>
    /// <exception cref="InvalidOperationException">The principal lacks the API's claims (the route is not behind authentication).</exception>
    public static Caller From(ClaimsPrincipal principal)
    {
        if (Guid.TryParse(principal.FindFirstValue(CallerClaims.UserId), out var id)
            && principal.FindFirstValue(CallerClaims.Name) is { } name
            && principal.FindFirstValue(CallerClaims.Role) is { } role
            && Guid.TryParse(principal.FindFirstValue(CallerClaims.Domain), out var domain))
        {
            return new Caller(id, name, role, domain, principal.FindFirstValue(CallerClaims.Scope));
        }
        throw new InvalidOperationException("The request carries no API caller: the route must require authorization.");
    }
}
