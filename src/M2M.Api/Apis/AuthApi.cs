using System.Globalization;
using System.Text.Json.Serialization;
using M2M.Api.Auth;
using M2M.Api.Http;
using M2M.Storage.Entities;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace M2M.Api.Apis;

/// <summary><c>/api/auth</c>: access tokens for a user name and password.</summary>
public static class AuthApi
{
    public static RouteGroupBuilder MapAuthApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/auth").WithTags("Auth");
        group.MapPost("/token", IssueTokenAsync).AllowAnonymous()
            .WithSummary("Exchange a user name and password for a bearer token.");
        group.MapGet("/me", (HttpContext context) => TypedResults.Ok(Caller.From(context.User)))
            .WithSummary("Who the token belongs to.");
        return group;
    }

    internal static async Task<Results<Ok<TokenResponse>, ValidationProblem, UnauthorizedHttpResult, ProblemHttpResult>> IssueTokenAsync(
        TokenRequest request, HttpContext context, IUserStore users, TokenService tokens, LoginThrottle throttle, CancellationToken cancellationToken)
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
        var token = tokens.Issue(Caller.From(user));
        return TypedResults.Ok(new TokenResponse(token.AccessToken, "Bearer", token.ExpiresIn));
    }
}

/// <summary>Login: user name and password.</summary>
public sealed record TokenRequest(string User, string Password);

/// <summary>An access token (OAuth 2 field names).</summary>
public sealed record TokenResponse(
    [property: JsonPropertyName("access_token")] string AccessToken,
    [property: JsonPropertyName("token_type")] string TokenType,
    [property: JsonPropertyName("expires_in")] int ExpiresIn);
