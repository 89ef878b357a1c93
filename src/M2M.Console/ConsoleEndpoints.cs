using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace M2M.Console;

/// <summary>
/// Serves the console at <c>/</c>: built assets with long caching (their names carry a content
/// hash), <c>index.html</c> with <c>no-cache</c> for the root and the console's own pages (the
/// single-page app's fallback: <see cref="ClientRoutes"/>), never for the server's own areas
/// (<c>/api</c>, <c>/health</c>, <c>/openapi</c>…) nor for unknown paths, which keep their 404s.
/// </summary>
public static class ConsoleEndpoints
{
    /// <summary>Path prefixes that belong to the server, never to the console's client routes.</summary>
    public static readonly string[] ServerPaths = ["/api", "/health", "/alive", "/openapi", "/scalar", "/metrics"];

    /// <summary>The console's own pages (its router's routes): these, and only these, are answered with <c>index.html</c>.</summary>
    public static readonly string[] ClientRoutes = ["/fleet", "/map", "/files", "/admin", "/devices"];

    /// <summary>
    /// Adds the console as a fallback middleware: it answers GET and HEAD requests that no endpoint
    /// matched, so it can never shadow an API route (nor change a 404 or 405 of one).
    /// </summary>
    public static WebApplication MapConsole(this WebApplication app)
    {
        app.Use(ServeAsync);
        return app;
    }

    /// <summary>Services of the console: its options and (built on first use) the in-memory assets.</summary>
    public static IServiceCollection AddConsole(this IServiceCollection services, Microsoft.Extensions.Configuration.IConfiguration configuration)
    {
        services.AddOptions<ConsoleOptions>()
            .Bind(configuration.GetSection(ConsoleOptions.Section))
            .Validate(o => o.Validate() is null, "M2M:Console:Tiles must be an http(s) URL template with {z}, {x} and {y}.")
            .ValidateOnStart();
        services.AddSingleton<ConsoleAssets>();
        return services;
    }

    private static Task ServeAsync(HttpContext context, RequestDelegate next)
    {
        var request = context.Request;
        if (context.GetEndpoint() is not null || !(HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method)))
        {
            return next(context);
        }
        var path = request.Path.Value ?? "/";
        foreach (var reserved in ServerPaths)
        {
            if (request.Path.StartsWithSegments(reserved))
            {
                return next(context);
            }
        }
        var assets = context.RequestServices.GetRequiredService<ConsoleAssets>();
        var asset = assets.Find(path);
        if (asset is null)
        {
            // The root and the console's pages get the page; anything else (a missing file, an
            // unknown path) keeps its 404.
            if (!IsClientRoute(request.Path) || assets.Find(ConsoleAssets.IndexPath) is not { } index)
            {
                return next(context);
            }
            asset = index;
        }
        return WriteAsync(context, asset);
    }

    private static bool IsClientRoute(PathString path)
    {
        if (path == "/" || !path.HasValue)
        {
            return true;
        }
        foreach (var route in ClientRoutes)
        {
            if (path.StartsWithSegments(route))
            {
                return true;
            }
        }
        return false;
    }

    private static async Task WriteAsync(HttpContext context, ConsoleAsset asset)
    {
        var response = context.Response;
        var headers = response.Headers;
        headers.CacheControl = asset.IsImmutable ? "public, max-age=31536000, immutable" : "no-cache";
        headers.ETag = asset.ETag;
        headers.Vary = HeaderNames.AcceptEncoding;
        headers.XContentTypeOptions = "nosniff";
        if (asset.Path == ConsoleAssets.IndexPath)
        {
            var options = context.RequestServices.GetRequiredService<IOptions<ConsoleOptions>>().Value;
            headers.ContentSecurityPolicy = options.ContentSecurityPolicy();
            headers.XFrameOptions = "DENY";
            headers["Referrer-Policy"] = "no-referrer";
        }
        if (context.Request.Headers.IfNoneMatch is { Count: > 0 } match && match.Contains(asset.ETag))
        {
            response.StatusCode = StatusCodes.Status304NotModified;
            return;
        }
        var body = asset.Content;
        var accepted = context.Request.Headers.AcceptEncoding;
        if (asset.Brotli is not null && Accepts(accepted, "br"))
        {
            body = asset.Brotli;
            headers.ContentEncoding = "br";
        }
        else if (asset.Gzip is not null && Accepts(accepted, "gzip"))
        {
            body = asset.Gzip;
            headers.ContentEncoding = "gzip";
        }
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = asset.ContentType;
        response.ContentLength = body.Length;
        if (!HttpMethods.IsHead(context.Request.Method))
        {
            await response.Body.WriteAsync(body, context.RequestAborted);
        }
    }

    private static bool Accepts(StringValues acceptEncoding, string coding)
    {
        foreach (var value in acceptEncoding)
        {
            if (value is null)
            {
                continue;
            }
            foreach (var part in value.Split(','))
            {
                var item = part.Trim();
                var semicolon = item.IndexOf(';');
                var name = semicolon < 0 ? item : item[..semicolon].Trim();
                if (!name.Equals(coding, StringComparison.OrdinalIgnoreCase))
                {
                    continue;
                }
                // "br;q=0" refuses the coding; any other weight accepts it.
                var q = semicolon < 0 ? "" : item[(semicolon + 1)..].Trim();
                return !q.StartsWith("q=", StringComparison.OrdinalIgnoreCase)
                    || !double.TryParse(q[2..], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var weight)
                    || weight > 0;
            }
        }
        return false;
    }
}
