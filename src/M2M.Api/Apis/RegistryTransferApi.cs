using M2M.Api.Http;
using M2M.Storage.Registry;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace M2M.Api.Apis;

/// <summary>
/// <c>/api/registry-export/{**path}</c> and <c>/api/registry-import/{**path}</c>: administrators copy a
/// registry subtree out as JSON and merge it back (the store's export format; <c>m2m registry export/import</c>).
/// An export of <c>/user/</c> or <c>/apikey/</c> holds credential hashes: keep it as carefully as a backup.
/// </summary>
public static class RegistryTransferApi
{
    public static IEndpointRouteBuilder MapRegistryTransferApi(this IEndpointRouteBuilder routes)
    {
        routes.MapGet("/registry-export/{**path}", ExportAsync).WithTags("Registry").RequireAuthorization(ApiExtensions.AdminPolicy)
            .WithName("exportRegistrySubtree").WithSummary("The subtree under a path as one JSON document (values, children, file blocks).")
            .Produces(StatusCodes.Status200OK, contentType: "application/json");
        routes.MapPost("/registry-import/{**path}", ImportAsync).WithTags("Registry").RequireAuthorization(ApiExtensions.AdminPolicy)
            .WithName("importRegistrySubtree").WithSummary("Merge an export under a path: nodes are created, values set; nothing is deleted.")
            .Accepts<object>("application/json");
        return routes;
    }

    internal static async Task<Results<ContentHttpResult, NotFound, ValidationProblem>> ExportAsync(IRegistry registry, CancellationToken cancellationToken, string? path = null)
    {
        if (!RegistryApi.TryPath(path, out var node, out var invalid))
        {
            return invalid;
        }
        try
        {
            return TypedResults.Text(await registry.ExportJsonAsync(node, cancellationToken), "application/json");
        }
        catch (RegistryNodeNotFoundException)
        {
            return TypedResults.NotFound();
        }
    }

    internal static async Task<Results<NoContent, ValidationProblem>> ImportAsync(HttpRequest request, IRegistry registry, CancellationToken cancellationToken, string? path = null)
    {
        if (!RegistryApi.TryPath(path, out var node, out var invalid))
        {
            return invalid;
        }
        using var reader = new StreamReader(request.Body, System.Text.Encoding.UTF8);
        var json = await reader.ReadToEndAsync(cancellationToken);
        try
        {
            await registry.ImportJsonAsync(node, json, CancellationToken.None);
        }
        catch (RegistryImportException e)
        {
            return Validation.Problem("$", e.Message);
        }
        return TypedResults.NoContent();
    }
}
