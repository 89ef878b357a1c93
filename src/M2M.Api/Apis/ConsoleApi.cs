using M2M.Console;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;

namespace M2M.Api.Apis;

/// <summary><c>/api/console/config</c>: what the web console needs to know about this server (the map's tile server).</summary>
public static class ConsoleApi
{
    public static RouteHandlerBuilder MapConsoleApi(this IEndpointRouteBuilder routes) =>
        routes.MapGet("/console/config", GetConfig).WithName("getConsoleConfig").WithTags("Console")
            .WithSummary("Settings of the web console: the map tile server (M2M:Console:Tiles), or null for the offline map.");

    internal static Ok<ConsoleConfig> GetConfig(IOptions<ConsoleOptions> options)
    {
        var o = options.Value;
        var tiles = string.IsNullOrWhiteSpace(o.Tiles) ? null : new TileConfig(o.Tiles, o.TileAttribution ?? "", o.TileMaxZoom);
        return TypedResults.Ok(new ConsoleConfig(tiles));
    }
}

/// <summary>The console's settings.</summary>
/// <param name="Tiles">The tile server, or <c>null</c>: the console draws its offline map.</param>
public sealed record ConsoleConfig(TileConfig? Tiles);

/// <summary>A tile server: URL template (<c>{z}/{x}/{y}</c>), attribution and deepest zoom.</summary>
public sealed record TileConfig(string Url, string Attribution, int MaxZoom);
