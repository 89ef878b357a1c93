using System.Collections.Frozen;
using System.IO.Compression;
using System.Reflection;
using System.Security.Cryptography;

namespace M2M.Console;

/// <summary>
/// The console's built files, read once from this assembly's embedded resources (<c>console/…</c>)
/// and kept in memory with a Brotli and a gzip copy and a strong entity tag each: a few hundred
/// kilobytes, served without touching the disk.
/// </summary>
public sealed class ConsoleAssets
{
    private const string Prefix = "console/";

    private readonly FrozenDictionary<string, ConsoleAsset> _assets;

    public ConsoleAssets() : this(typeof(ConsoleAssets).Assembly)
    {
    }

    internal ConsoleAssets(Assembly assembly)
    {
        var assets = new Dictionary<string, ConsoleAsset>(StringComparer.Ordinal);
        foreach (var name in assembly.GetManifestResourceNames())
        {
            if (!name.StartsWith(Prefix, StringComparison.Ordinal))
            {
                continue;
            }
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            var path = "/" + name[Prefix.Length..].Replace('\\', '/');
            assets[path] = ConsoleAsset.Create(path, copy.ToArray());
        }
        _assets = assets.ToFrozenDictionary(StringComparer.Ordinal);
    }

    /// <summary>Whether the console was built into this assembly (an <c>index.html</c> is present).</summary>
    public bool HasIndex => _assets.ContainsKey(IndexPath);

    /// <summary>Path of the page every client route is answered with.</summary>
    public const string IndexPath = "/index.html";

    /// <summary>Every asset path (e.g. <c>/index.html</c>, <c>/assets/index-1a2b3c.js</c>).</summary>
    public IEnumerable<string> Paths => _assets.Keys;

    public ConsoleAsset? Find(string path) => _assets.GetValueOrDefault(path);
}

/// <summary>One built file: its bytes, compressed copies (when smaller), content type and entity tag.</summary>
public sealed record ConsoleAsset(string Path, string ContentType, byte[] Content, byte[]? Brotli, byte[]? Gzip, string ETag)
{
    /// <summary>Whether the file name carries a content hash (Vite's <c>assets/name-hash.ext</c>), so it can be cached for ever.</summary>
    public bool IsImmutable => Path.StartsWith("/assets/", StringComparison.Ordinal);

    internal static ConsoleAsset Create(string path, byte[] content)
    {
        var type = ContentTypeOf(path);
        byte[]? brotli = null, gzip = null;
        if (IsCompressible(type) && content.Length > 256)
        {
            brotli = Compress(content, s => new BrotliStream(s, CompressionLevel.SmallestSize, leaveOpen: true));
            gzip = Compress(content, s => new GZipStream(s, CompressionLevel.SmallestSize, leaveOpen: true));
            brotli = brotli.Length < content.Length ? brotli : null;
            gzip = gzip.Length < content.Length ? gzip : null;
        }
        var etag = $"\"{Convert.ToHexStringLower(SHA256.HashData(content))[..32]}\"";
        return new ConsoleAsset(path, type, content, brotli, gzip, etag);
    }

    private static byte[] Compress(byte[] content, Func<Stream, Stream> wrap)
    {
        using var output = new MemoryStream();
        using (var compressor = wrap(output))
        {
            compressor.Write(content);
        }
        return output.ToArray();
    }

    private static bool IsCompressible(string type) =>
        type.StartsWith("text/", StringComparison.Ordinal) || type.Contains("javascript", StringComparison.Ordinal)
        || type.Contains("json", StringComparison.Ordinal) || type.Contains("svg", StringComparison.Ordinal);

    private static string ContentTypeOf(string path) => System.IO.Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".html" => "text/html; charset=utf-8",
        ".js" or ".mjs" => "text/javascript; charset=utf-8",
        ".css" => "text/css; charset=utf-8",
        ".json" => "application/json",
        ".svg" => "image/svg+xml",
        ".png" => "image/png",
        ".ico" => "image/x-icon",
        ".woff2" => "font/woff2",
        ".txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    };
}
