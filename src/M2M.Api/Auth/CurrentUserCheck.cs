using System.Security.Claims;
using M2M.Storage.Entities;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.DependencyInjection;

namespace M2M.Api.Auth;

/// <summary>
/// After a token's signature and lifetime are checked, the user it names is looked up: a deleted
/// user's tokens stop working at once, and a changed role or domain applies to the next request
/// rather than when the token expires.
/// </summary>
internal static class CurrentUserCheck
{
    public static async Task OnTokenValidatedAsync(TokenValidatedContext context)
    {
        if (context.Principal is null || !Guid.TryParse(context.Principal.FindFirstValue(CallerClaims.UserId), out var userId))
        {
            context.Fail("The token names no user.");
            return;
        }
        var users = context.HttpContext.RequestServices.GetRequiredService<IUserStore>();
        var user = await users.GetAsync(userId, context.HttpContext.RequestAborted);
        if (user is null)
        {
            context.Fail("The token's user no longer exists.");
            return;
        }
        var identity = new ClaimsIdentity(
            [
                new Claim(CallerClaims.UserId, user.Id.ToString("D")),
                new Claim(CallerClaims.Name, user.Name),
                new Claim(CallerClaims.Role, user.Role),
                new Claim(CallerClaims.Domain, user.DomainId.ToString("D")),
            ],
            context.Scheme.Name,
            CallerClaims.Name,
            CallerClaims.Role);
        context.Principal = new ClaimsPrincipal(identity);
    }
}
