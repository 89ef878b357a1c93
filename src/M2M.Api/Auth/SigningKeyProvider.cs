using System.Security.Cryptography;
using System.Text;
using M2M.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;

namespace M2M.Api.Auth;

/// <summary>
/// The key that signs and checks access tokens: <c>M2M:Api:SigningKey</c> when configured, else a
/// random 64-byte key generated on first start and kept in the data directory with owner-only
/// permissions, so tokens survive restarts.
/// </summary>
public sealed class SigningKeyProvider
{
    /// <summary>Smallest key accepted for HMAC-SHA256.</summary>
    public const int MinKeyBytes = 32;

    private readonly Lazy<SymmetricSecurityKey> _key;

    public SigningKeyProvider(IOptions<ApiOptions> api, IOptions<StorageOptions> storage, ILogger<SigningKeyProvider> logger)
    {
        _key = new Lazy<SymmetricSecurityKey>(() => new SymmetricSecurityKey(Load(api.Value.SigningKey, storage.Value.FullDataDirectory, logger)) { KeyId = "m2m-api" });
    }

    public SymmetricSecurityKey Key => _key.Value;

    internal static byte[] Load(string? configured, string dataDirectory, ILogger logger)
    {
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return FromConfiguration(configured);
        }

        Directory.CreateDirectory(dataDirectory);
        var path = Path.Combine(dataDirectory, ApiOptions.SigningKeyFileName);
        var key = RandomNumberGenerator.GetBytes(64);
        try
        {
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
            logger.LogInformation("Generated the API signing key in {Path}", path);
            return key;
        }
        catch (IOException) when (File.Exists(path))
        {
            // Kept from an earlier start (or written by a concurrent one): use it.
        }

        var text = File.ReadAllText(path).Trim();
        byte[] stored;
        try
        {
            stored = Convert.FromBase64String(text);
        }
        catch (FormatException e)
        {
            throw new InvalidOperationException($"The API signing key file {path} is not base64; delete it to generate a new key.", e);
        }
        return stored.Length >= MinKeyBytes
            ? stored
            : throw new InvalidOperationException($"The API signing key file {path} holds fewer than {MinKeyBytes} bytes; delete it to generate a new key.");
    }

    private static byte[] FromConfiguration(string configured)
    {
        var buffer = new byte[configured.Length];
        if (Convert.TryFromBase64String(configured, buffer, out var written) && written >= MinKeyBytes)
        {
            return buffer[..written];
        }
        var bytes = Encoding.UTF8.GetBytes(configured);
        return bytes.Length >= MinKeyBytes
            ? bytes
            : throw new OptionsValidationException(ApiOptions.Section, typeof(ApiOptions), [$"{ApiOptions.Section}:SigningKey must be base64 of at least {MinKeyBytes} bytes or text of at least {MinKeyBytes} characters."]);
    }
}
