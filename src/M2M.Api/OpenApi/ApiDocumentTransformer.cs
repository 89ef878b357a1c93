using M2M.Api.Auth;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace M2M.Api.OpenApi;

/// <summary>
/// The document as a client generator needs it: a title and description, the two credential
/// schemes (access token, API key) and the problem document schema every error answer refers to.
/// Which operation needs which credential is said per operation (<see cref="ApiOperationTransformer"/>).
/// </summary>
internal sealed class ApiDocumentTransformer : IOpenApiDocumentTransformer
{
    public const string BearerScheme = "Bearer";
    public const string ApiKeyScheme = "ApiKey";
    public const string ProblemSchema = "ProblemDetails";

    public async Task TransformAsync(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken cancellationToken)
    {
        document.Info = new OpenApiInfo
        {
            Title = "M2M platform API",
            Version = "v1",
            Description = """
                Devices, their settings, commands and data; files and firmware; domains, users, API keys and the registry.
                Sign in with POST /api/auth/token and send the access token as `Authorization: Bearer <token>`
                (renew it with POST /api/auth/refresh), or send an API key the same way. Errors are RFC 7807
                problem documents; lists are paged with `limit` and an opaque `cursor`.
                """,
        };
        document.Components ??= new OpenApiComponents();
        document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
        document.Components.SecuritySchemes[BearerScheme] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http,
            Scheme = "bearer",
            BearerFormat = "JWT",
            Description = "An access token from POST /api/auth/token or POST /api/auth/refresh.",
        };
        document.Components.SecuritySchemes[ApiKeyScheme] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http,
            Scheme = "bearer",
            BearerFormat = CredentialToken.ApiKeyPrefix + "…",
            Description = "An API key (created by an administrator with POST /api/apikeys), sent as 'Authorization: Bearer m2mk_…'. "
                + "Scope 'read' reaches the GET routes, 'write' every route of its domain; no key reaches the administrators' routes.",
        };
        document.Components.Schemas ??= new Dictionary<string, IOpenApiSchema>();
        if (!document.Components.Schemas.ContainsKey(ProblemSchema))
        {
            document.Components.Schemas[ProblemSchema] = await context.GetOrCreateSchemaAsync(typeof(ProblemDetails), cancellationToken: cancellationToken);
        }
        foreach (var name in (string[])[ProblemSchema, "HttpValidationProblemDetails"])
        {
            if (document.Components.Schemas.TryGetValue(name, out var problem) && problem is OpenApiSchema schema)
            {
                // Problem documents carry extension members (traceId…), whatever the API's rule for its own bodies.
                schema.AdditionalPropertiesAllowed = true;
                schema.AdditionalProperties = null;
            }
        }
    }
}
