using System.Security.Cryptography;
using System.Text;
using M2M.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace M2M.Forwarding;

/// <summary>
/// The forwarding key: <c>M2M:Forwarding:Key</c>, else 64 random bytes generated on first use into
/// <c>&lt;DataDirectory&gt;/forwarding.key</c> (mode 0600). Endpoint secrets are derived from it, so
/// it is part of a backup, and every node of a deployment needs the same one.
/// </summary>
public sealed class ForwardingKey
{
    public const int MinKeyBytes = 32;

    private readonly Lazy<byte[]> _key;

    public ForwardingKey(IOptions<ForwardingOptions> options, IOptions<StorageOptions> storage, ILogger<ForwardingKey> logger)
        => _key = new(() => Load(options.Value.Key, storage.Value.FullDataDirectory, logger));

    internal ForwardingKey(byte[] key) => _key = new(key);

    /// <summary>
    /// The signing secret of an endpoint: <c>whsec_</c> + base64url(HMAC-SHA256(key, "m2m-webhook-secret/" + id + "/" + generation)).
    /// Never stored; shown when the endpoint is created or its secret rotated.
    /// </summary>
    public string SecretFor(Guid endpoint, int generation)
    {
        var input = Encoding.UTF8.GetBytes($"m2m-webhook-secret/{endpoint:D}/{generation}");
        return "whsec_" + Base64Url(HMACSHA256.HashData(_key.Value, input));
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static byte[] Load(string? configured, string dataDirectory, ILogger logger)
    {
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return Decode(configured, "M2M:Forwarding:Key");
        }
        Directory.CreateDirectory(dataDirectory);
        var path = Path.Combine(dataDirectory, ForwardingOptions.KeyFileName);
        try
        {
            var key = RandomNumberGenerator.GetBytes(64);
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }
            using (var stream = new FileStream(path, options))
            {
                stream.Write(Encoding.ASCII.GetBytes(Convert.ToBase64String(key)));
                stream.Flush(flushToDisk: true);
            }
            logger.LogInformation("Generated the forwarding key in {Path}", path);
            return key;
        }
        catch (IOException) when (File.Exists(path))
        {
            // Kept from an earlier start: use it.
        }
        return Decode(File.ReadAllText(path).Trim(), path);
    }

    private static byte[] Decode(string text, string where)
    {
        var buffer = new byte[text.Length];
        return Convert.TryFromBase64String(text, buffer, out var written) && written >= MinKeyBytes
            ? buffer[..written]
            : throw new InvalidOperationException($"The forwarding key ({where}) must be base64 of at least {MinKeyBytes} bytes.");
    }
}
