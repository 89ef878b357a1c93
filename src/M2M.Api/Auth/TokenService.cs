using System.Security.Claims;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace M2M.Api.Auth;

/// <summary>Issues the API's access tokens: JWTs signed with HMAC-SHA256 by <see cref="SigningKeyProvider"/>.</summary>
public sealed class TokenService(SigningKeyProvider keys, IOptions<ApiOptions> options, TimeProvider time)
{
    private readonly JsonWebTokenHandler _handler = new() { SetDefaultTimesOnTokenCreation = false };

    /// <summary>The audience written into and required from every token.</summary>
    public const string Audience = "m2m-api";

    /// <summary>A token for <paramref name="caller"/>, valid for the configured lifetime (or <paramref name="lifetime"/>).</summary>
    public IssuedToken Issue(Caller caller, TimeSpan? lifetime = null, DateTimeOffset? notBefore = null)
    {
        var now = notBefore ?? time.GetUtcNow();
        var life = lifetime ?? options.Value.TokenLifetime;
        var descriptor = new SecurityTokenDescriptor
        {
            Issuer = options.Value.Issuer,
            Audience = Audience,
            IssuedAt = now.UtcDateTime,
            NotBefore = now.UtcDateTime,
            Expires = (now + life).UtcDateTime,
            SigningCredentials = new SigningCredentials(keys.Key, SecurityAlgorithms.HmacSha256),
            Subject = new ClaimsIdentity(
            [
                new Claim(CallerClaims.UserId, caller.UserId.ToString("D")),
                new Claim(CallerClaims.Name, caller.Name),
                new Claim(CallerClaims.Role, caller.Role),
                new Claim(CallerClaims.Domain, caller.DomainId.ToString("D")),
                new Claim(JwtRegisteredClaimNames.Jti, Guid.NewGuid().ToString("N")),
            ]),
        };
        return new IssuedToken(_handler.CreateToken(descriptor), (int)life.TotalSeconds);
    }

    /// <summary>The rules every presented token must pass.</summary>
    public static TokenValidationParameters ValidationParameters(SecurityKey key, string issuer) => new()
    {
        ValidIssuer = issuer,
        ValidAudience = Audience,
        IssuerSigningKey = key,
        ValidAlgorithms = [SecurityAlgorithms.HmacSha256],
        RequireExpirationTime = true,
        RequireSignedTokens = true,
        ValidateIssuerSigningKey = true,
        ClockSkew = TimeSpan.FromSeconds(30),
        NameClaimType = CallerClaims.Name,
        RoleClaimType = CallerClaims.Role,
    };
}

/// <summary>A signed token and its lifetime in seconds.</summary>
public sealed record IssuedToken(string AccessToken, int ExpiresIn);
