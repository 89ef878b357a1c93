namespace M2M.Console;

/// <summary>Settings of the web console (configuration section <c>M2M:Console</c>).</summary>
public sealed class ConsoleOptions
{
    public const string Section = "M2M:Console";

    /// <summary>
    /// URL template of a map tile server, e.g. <c>https://tiles.example.org/{z}/{x}/{y}.png</c>
    /// (<c>{s}</c> for subdomains is allowed). Empty: no tiles; the map draws positions on a
    /// graticule, which works with no network at all.
    /// </summary>
    public string? Tiles { get; set; }

    /// <summary>Attribution shown on the map for the tiles (often required by the tile server's terms).</summary>
    public string? TileAttribution { get; set; }

    /// <summary>Deepest zoom level the tile server offers.</summary>
    public int TileMaxZoom { get; set; } = 19;

    /// <summary>Why the settings are invalid, or <c>null</c>.</summary>
    public string? Validate()
    {
        if (TileMaxZoom is < 1 or > 24)
        {
            return "TileMaxZoom must be between 1 and 24.";
        }
        if (string.IsNullOrWhiteSpace(Tiles))
        {
            return null;
        }
        return Uri.TryCreate(Sample(Tiles), UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)
            && Tiles.Contains("{z}", StringComparison.Ordinal) && Tiles.Contains("{x}", StringComparison.Ordinal) && Tiles.Contains("{y}", StringComparison.Ordinal)
            ? null
            : "Tiles must be an http(s) URL template with {z}, {x} and {y}.";
    }

    /// <summary>
    /// The page's Content-Security-Policy: everything from this origin only, images also from the
    /// tile server when one is configured; no inline script, no framing.
    /// </summary>
    public string ContentSecurityPolicy()
    {
        var images = "'self' data: blob:";
        if (!string.IsNullOrWhiteSpace(Tiles))
        {
            if (Uri.TryCreate(Sample(Tiles), UriKind.Absolute, out var uri))
            {
                // With subdomains ({s}.host), allow every subdomain of the host.
                var host = Tiles.Contains("{s}.", StringComparison.Ordinal) ? "*." + uri.Host[(uri.Host.IndexOf('.') + 1)..] : uri.Host;
                images += $" {uri.Scheme}://{host}{(uri.IsDefaultPort ? "" : ":" + uri.Port)}";
            }
        }
        return $"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src {images}; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";
    }

    /// <summary>One tile's URL of the template (placeholders filled), to parse it.</summary>
    private static string Sample(string template) =>
        template.Replace("{s}", "a", StringComparison.Ordinal).Replace("{z}", "1", StringComparison.Ordinal)
            .Replace("{x}", "1", StringComparison.Ordinal).Replace("{y}", "1", StringComparison.Ordinal).Replace("{r}", "", StringComparison.Ordinal);
}
