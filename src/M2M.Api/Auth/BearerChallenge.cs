using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.DependencyInjection;

namespace M2M.Api.Auth;

/// <summary>
/// Answers a missing, expired or forged credential (access token or API key) with 401,
/// <c>WWW-Authenticate: Bearer</c> and a problem document.
/// </summary>
internal static class BearerChallenge
{
    public static Task WriteProblemAsync(JwtBearerChallengeContext context)
    {
        context.HandleResponse();
        return WriteAsync(context.HttpContext, failed: context.AuthenticateFailure is not null);
    }

    /// <summary>Writes the 401; <paramref name="failed"/> when a credential was presented and refused.</summary>
    public static async Task WriteAsync(HttpContext context, bool failed)
    {
        var response = context.Response;
        if (response.HasStarted)
        {
            return;
        }
        response.StatusCode = StatusCodes.Status401Unauthorized;
        // The reason (expired, bad signature, revoked…) stays out of the answer: it would help a forger.
        response.Headers.WWWAuthenticate = failed ? "Bearer error=\"invalid_token\"" : "Bearer";
        var problems = context.RequestServices.GetRequiredService<IProblemDetailsService>();
        await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails = new ProblemDetails
            {
                Status = StatusCodes.Status401Unauthorized,
                Title = "A valid bearer token is required.",
                Detail = "Get one from POST /api/auth/token (or use an API key) and send it as 'Authorization: Bearer <token>'.",
            },
        });
    }
}
