using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.DependencyInjection;

namespace M2M.Api.Auth;

/// <summary>Answers a missing, expired or forged token with 401, <c>WWW-Authenticate: Bearer</c> and a problem document.</summary>
internal static class BearerChallenge
{
    public static async Task WriteProblemAsync(JwtBearerChallengeContext context)
    {
        context.HandleResponse();
        var response = context.Response;
        if (response.HasStarted)
        {
            return;
        }
        response.StatusCode = StatusCodes.Status401Unauthorized;
        // The reason (expired, bad signature…) stays out of the answer: it would help a forger.
        response.Headers.WWWAuthenticate = context.AuthenticateFailure is null ? "Bearer" : "Bearer error=\"invalid_token\"";
        var problems = context.HttpContext.RequestServices.GetRequiredService<IProblemDetailsService>();
        await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = context.HttpContext,
            ProblemDetails = new ProblemDetails
            {
                Status = StatusCodes.Status401Unauthorized,
                Title = "A valid bearer token is required.",
                Detail = "Get one from POST /api/auth/token and send it as 'Authorization: Bearer <token>'.",
            },
        });
    }
}
