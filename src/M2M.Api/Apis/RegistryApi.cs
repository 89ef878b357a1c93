using M2M.Api.Fleet;
using M2M.Api.Http;
using M2M.Storage.Registry;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace M2M.Api.Apis;

/// <summary><c>/api/registry/{**path}</c>: administrators read and change registry nodes directly, for diagnostics.</summary>
public static class RegistryApi
{
    /// <summary>Most values one request may set.</summary>
    public const int MaxValuesPerRequest = 1000;

    public static RouteGroupBuilder MapRegistryApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/registry").WithTags("Registry").RequireAuthorization(ApiExtensions.AdminPolicy);
        group.MapGet("/{**path}", GetAsync).WithName("getRegistryNode").WithSummary("A node's status, values and children (hidden ones included).");
        group.MapPut("/{**path}", SetAsync).WithName("setRegistryValues").WithSummary("Set values of a node (name → value), creating it when needed.");
        group.MapDelete("/{**path}", DeleteAsync).WithName("deleteRegistryNode").WithSummary("Soft-delete a node and its subtree.");
        return group;
    }

    internal static async Task<Results<Ok<RegistryNodeView>, NotFound, ValidationProblem>> GetAsync(IRegistry registry, CancellationToken cancellationToken, string? path = null)
    {
        if (!TryPath(path, out var node, out var invalid))
        {
            return invalid;
        }
        var status = await registry.GetStatusAsync(node, cancellationToken);
        if (status != RegistryNodeStatus.Created && !node.IsRoot)
        {
            return TypedResults.NotFound();
        }
        var values = await registry.GetValuesAsync(node, cancellationToken);
        var children = await registry.GetChildrenAsync(node, includeHidden: true, cancellationToken);
        return TypedResults.Ok(new RegistryNodeView(node.Value, status.ToString().ToLowerInvariant(), values, children));
    }

    internal static async Task<Results<Ok<RegistryNodeView>, ValidationProblem>> SetAsync(Dictionary<string, string> values, IRegistry registry, FleetIndex fleet, CancellationToken cancellationToken, string? path = null)
    {
        if (!TryPath(path, out var node, out var invalid))
        {
            return invalid;
        }
        if (values.Count is 0 or > MaxValuesPerRequest)
        {
            return Validation.Problem("$", $"Between 1 and {MaxValuesPerRequest} values.");
        }
        foreach (var (name, value) in values)
        {
            try
            {
                RegistryLimits.Check(name, value);
            }
            catch (RegistryValueException e)
            {
                return Validation.Problem(name.Length == 0 ? "$" : name, e.Message);
            }
        }
        await registry.SetValuesAsync(node, values, cancellationToken: CancellationToken.None);
        RefreshDevice(fleet, node);
        var stored = await registry.GetValuesAsync(node, cancellationToken);
        var children = await registry.GetChildrenAsync(node, includeHidden: true, cancellationToken);
        return TypedResults.Ok(new RegistryNodeView(node.Value, "created", stored, children));
    }

    internal static async Task<Results<NoContent, NotFound, ValidationProblem>> DeleteAsync(IRegistry registry, FleetIndex fleet, CancellationToken cancellationToken, string? path = null)
    {
        if (!TryPath(path, out var node, out var invalid))
        {
            return invalid;
        }
        if (node.IsRoot)
        {
            return Validation.Problem("path", "The root cannot be deleted.");
        }
        var deleted = await registry.DeleteAsync(node, hard: false, cancellationToken);
        RefreshDevice(fleet, node);
        return deleted ? TypedResults.NoContent() : TypedResults.NotFound();
    }

    /// <summary>A raw write under <c>/device/&lt;id&gt;/</c> may change what the fleet index holds of that device.</summary>
    private static void RefreshDevice(FleetIndex fleet, RegistryPath node)
    {
        const string Prefix = "/device/";
        var path = node.Value;
        if (path.StartsWith(Prefix, StringComparison.Ordinal) && path.Length >= Prefix.Length + 36
            && Guid.TryParseExact(path.AsSpan(Prefix.Length, 36), "D", out var id))
        {
            fleet.Refresh(id);
        }
        else if (path == "/" || path == Prefix)
        {
            fleet.RequestReload();
        }
    }

    /// <summary>The registry path of a route's <c>{*path}</c> (empty: the root), or the validation problem that refuses it.</summary>
    internal static bool TryPath(string? path, out RegistryPath node, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out ValidationProblem? problem)
    {
        problem = null;
        if (string.IsNullOrEmpty(path))
        {
            node = RegistryPath.Root;
            return true;
        }
        if (RegistryPath.TryParse("/" + path, out node))
        {
            return true;
        }
        problem = Validation.Problem("path", "Not a valid registry path (empty, '.' or '..' segment, control character or too long).");
        return false;
    }
}

/// <summary>A registry node: path, status (<c>created</c>, <c>deleted</c>, <c>undefined</c>), values and child names.</summary>
public sealed record RegistryNodeView(string Path, string Status, IReadOnlyDictionary<string, string> Values, IReadOnlyList<string> Children);
