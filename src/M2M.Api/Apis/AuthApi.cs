using System.Globalization;
using System.Text.Json.Serialization;
using M2M.Api.Auth;
using M2M.Api.Http;
using M2M.Storage.Entities;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace M2M.Api.Apis;

/// <summary><c>/api/auth</c>: access and refresh tokens for a user name and password, their rotation and logout.</summary>
public static class AuthApi
{
    public static RouteGroupBuilder MapAuthApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/auth").WithTags("Auth");
        group.MapPost("/token", IssueTokenAsync).AllowAnonymous().WithName("issueToken")
            .ProducesProblem(StatusCodes.Status401Unauthorized).ProducesProblem(StatusCodes.Status429TooManyRequests)
            .WithSummary("Exchange a user name and password for an access token and a refresh token.");
        group.MapPost("/refresh", RefreshAsync).AllowAnonymous().WithName("refreshToken")
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .WithSummary("Exchange a refresh token for a new access token and a new refresh token (the old one stops working).");
        group.MapPost("/logout", LogoutAsync).AllowAnonymous().WithName("logout")
            .WithSummary("End the sign-in a refresh token belongs to (every refresh token of it stops working).");
        group.MapGet("/me", (HttpContext context) => TypedResults.Ok(Caller.From(context.User))).WithName("getCaller")
            .WithSummary("Who the token (or API key) belongs to.");
        return group;
    }

    internal static async Task<Results<Ok<TokenResponse>, ValidationProblem, UnauthorizedHttpResult, ProblemHttpResult>> IssueTokenAsync(
        TokenRequest request, HttpContext context, IUserStore users, TokenService tokens, RefreshTokenService refresh, LoginThrottle throttle, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(request.User))
        {
            return Validation.Problem("user", "Required.");
        }
        if (string.IsNullOrEmpty(request.Password))
        {
            return Validation.Problem("password", "Required.");
        }
        var address = context.Connection.RemoteIpAddress;
        if (throttle.TryBegin(request.User, address) is { } wait)
        {
            context.Response.Headers.RetryAfter = ((int)Math.Ceiling(wait.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
            return TypedResults.Problem(statusCode: StatusCodes.Status429TooManyRequests, title: "Too many login attempts; retry later.");
        }
        var user = await users.VerifyPasswordAsync(request.User, request.Password, cancellationToken);
        if (user is null)
        {
            return TypedResults.Unauthorized();
        }
        throttle.Succeeded(request.User, address);
        return TypedResults.Ok(Respond(user, tokens, await refresh.IssueAsync(user, cancellationToken)));
    }

    internal static async Task<Results<Ok<TokenResponse>, ValidationProblem, UnauthorizedHttpResult>> RefreshAsync(
        RefreshRequest request, TokenService tokens, RefreshTokenService refresh, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(request.RefreshToken))
        {
            return Validation.Problem("refresh_token", "Required.");
        }
        if (await refresh.RefreshAsync(request.RefreshToken, cancellationToken) is not { } next)
        {
            return TypedResults.Unauthorized();
        }
        return TypedResults.Ok(Respond(next.User, tokens, next.Token));
    }

    internal static async Task<Results<NoContent, ValidationProblem>> LogoutAsync(RefreshRequest request, RefreshTokenService refresh, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(request.RefreshToken))
        {
            return Validation.Problem("refresh_token", "Required.");
        }
        // 204 whatever the token was: logging out twice, or with a token already dead, is not an error.
        await refresh.LogoutAsync(request.RefreshToken, cancellationToken);
        return TypedResults.NoContent();
    }

    private static TokenResponse Respond(User user, TokenService tokens, IssuedRefreshToken refresh)
    {
        var access = tokens.Issue(Caller.From(user));
        return new TokenResponse(access.AccessToken, "Bearer", access.ExpiresIn, refresh.RefreshToken, refresh.ExpiresIn);
    }
}

/// <summary>Login: user name and password.</summary>
public sealed record TokenRequest(string User, string Password);

/// <summary>A refresh token to exchange or to end.</summary>
public sealed record RefreshRequest([property: JsonPropertyName("refresh_token")] string RefreshToken);

/// <summary>An access token and a refresh token (OAuth 2 field names); lifetimes in seconds.</summary>
public sealed record TokenResponse(
    [property: JsonPropertyName("access_token")] string AccessToken,
    [property: JsonPropertyName("token_type")] string TokenType,
    [property: JsonPropertyName("expires_in")] int ExpiresIn,
    [property: JsonPropertyName("refresh_token")] string RefreshToken,
    [property: JsonPropertyName("refresh_expires_in")] int RefreshExpiresIn);
