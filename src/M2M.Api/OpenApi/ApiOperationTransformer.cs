using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.AspNetCore.Routing;
using Microsoft.OpenApi;

namespace M2M.Api.OpenApi;

/// <summary>
/// Completes every operation from its endpoint's metadata, so that a route added later is
/// described as fully as the others without anyone remembering to:
/// <list type="bullet">
/// <item>an <c>operationId</c> (the endpoint name, else one derived from method and route);</item>
/// <item>the credentials it accepts (none for the anonymous routes);</item>
/// <item>the answers the pipeline gives before the handler runs: 401 (no or bad credential),
/// 403 (an administrators' route, or a change made with a read-only API key), 413 (a body over the
/// limit), 507 on a streamed upload (no room on the disk), each a problem document; and a problem
/// body for the handler's own 404s.</item>
/// </list>
/// </summary>
internal sealed class ApiOperationTransformer : IOpenApiOperationTransformer
{
    public Task TransformAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        var description = context.Description;
        var metadata = description.ActionDescriptor.EndpointMetadata;
        var method = description.HttpMethod ?? "GET";
        operation.OperationId ??= DerivedId(method, description.RelativePath ?? "");

        var anonymous = metadata.OfType<IAllowAnonymous>().Any();
        if (!anonymous && metadata.OfType<IAuthorizeData>().Any())
        {
            operation.Security =
            [
                new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(ApiDocumentTransformer.BearerScheme, context.Document)] = [] },
                new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(ApiDocumentTransformer.ApiKeyScheme, context.Document)] = [] },
            ];
            AddProblem(operation, context, StatusCodes.Status401Unauthorized, "No valid access token or API key.");
            var adminOnly = metadata.OfType<IAuthorizeData>().Any(a => a.Policy == ApiExtensions.AdminPolicy);
            if (adminOnly)
            {
                AddProblem(operation, context, StatusCodes.Status403Forbidden, "Only administrators may use this route (never an API key).");
            }
            else if (!HttpMethods.IsGet(method) && !HttpMethods.IsHead(method))
            {
                AddProblem(operation, context, StatusCodes.Status403Forbidden, "The API key has the 'read' scope only.");
            }
        }
        var streamingUpload = metadata.OfType<StreamingUpload>().Any();
        if (streamingUpload && operation.RequestBody is null)
        {
            // The handler reads the raw body stream: say so, or a generated client could not send it.
            operation.RequestBody = new OpenApiRequestBody
            {
                Required = true,
                Description = "The content, streamed (any size); its Content-Type is kept.",
                Content = new Dictionary<string, OpenApiMediaType> { ["application/octet-stream"] = new() { Schema = Binary() } },
            };
        }
        if (streamingUpload)
        {
            AddProblem(operation, context, StatusCodes.Status507InsufficientStorage,
                "Not enough disk space: the upload would take the free space kept for records (M2M:Storage:ReservedFreeBytes).");
        }
        if (ReturnsFile(metadata))
        {
            operation.Responses ??= [];
            operation.Responses.TryAdd("200", new OpenApiResponse { Description = "The content, with ETag.", Content = BinaryContent() });
            operation.Responses.TryAdd("206", new OpenApiResponse { Description = "The requested range (Range header).", Content = BinaryContent() });
            operation.Responses.TryAdd("304", new OpenApiResponse { Description = "Not modified (If-None-Match)." });
            operation.Responses.TryAdd("416", new OpenApiResponse { Description = "The range is outside the content." });
        }
        if (operation.RequestBody is not null && !streamingUpload)
        {
            AddProblem(operation, context, StatusCodes.Status413PayloadTooLarge, "The request body is larger than M2M:Api:MaxRequestBodyBytes.");
        }
        // Errors without a declared body (a bare 404, 401, 429 from Produces…) carry a problem document.
        foreach (var (status, response) in operation.Responses ?? [])
        {
            if (status.Length == 3 && status[0] is '4' or '5' && response is OpenApiResponse { Content: null or { Count: 0 } } bare)
            {
                bare.Content = ProblemContent(context);
            }
        }
        return Task.CompletedTask;
    }

    /// <summary>Whether the handler answers a file stream (its declared results include <see cref="Microsoft.AspNetCore.Http.HttpResults.FileStreamHttpResult"/>).</summary>
    private static bool ReturnsFile(IList<object> metadata)
    {
        var returned = metadata.OfType<System.Reflection.MethodInfo>().FirstOrDefault()?.ReturnType;
        while (returned is { IsGenericType: true } && returned.GetGenericTypeDefinition() == typeof(Task<>))
        {
            returned = returned.GetGenericArguments()[0];
        }
        return returned is not null
            && (returned == typeof(Microsoft.AspNetCore.Http.HttpResults.FileStreamHttpResult)
                || (returned.IsGenericType && returned.GetGenericArguments().Contains(typeof(Microsoft.AspNetCore.Http.HttpResults.FileStreamHttpResult))));
    }

    private static OpenApiSchema Binary() => new() { Type = JsonSchemaType.String, Format = "binary" };

    private static Dictionary<string, OpenApiMediaType> BinaryContent() => new() { ["application/octet-stream"] = new OpenApiMediaType { Schema = Binary() } };

    private static void AddProblem(OpenApiOperation operation, OpenApiOperationTransformerContext context, int status, string description)
    {
        operation.Responses ??= [];
        var key = status.ToString(CultureInfo.InvariantCulture);
        if (!operation.Responses.ContainsKey(key))
        {
            operation.Responses[key] = new OpenApiResponse { Description = description, Content = ProblemContent(context) };
        }
    }

    private static Dictionary<string, OpenApiMediaType> ProblemContent(OpenApiOperationTransformerContext context) => new()
    {
        ["application/problem+json"] = new OpenApiMediaType { Schema = new OpenApiSchemaReference(ApiDocumentTransformer.ProblemSchema, context.Document) },
    };

    /// <summary><c>GET api/devices/{id}/data</c> → <c>getDevicesByIdData</c>: stable and unique per route.</summary>
    internal static string DerivedId(string method, string route)
    {
        var id = new StringBuilder(method.ToLowerInvariant());
        foreach (var segment in route.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (segment == "api")
            {
                continue;
            }
            var parameter = segment.StartsWith('{');
            if (parameter)
            {
                id.Append("By");
            }
            var upper = true;
            foreach (var c in segment)
            {
                if (!char.IsAsciiLetterOrDigit(c))
                {
                    upper = true;
                    continue;
                }
                id.Append(upper ? char.ToUpperInvariant(c) : c);
                upper = false;
            }
        }
        return id.ToString();
    }
}
