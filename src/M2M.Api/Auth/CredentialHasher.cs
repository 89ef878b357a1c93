using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace M2M.Api.Auth;

/// <summary>
/// Hashes the high-entropy credentials the API hands out (API keys, refresh tokens) with
/// HMAC-SHA256 under a key derived (HKDF) from the signing key. A fast keyed hash is right for a
/// 256-bit random secret — nothing to brute-force, so PBKDF2's cost would only slow every request —
/// and the key means a copy of the registry alone does not even allow checking a guessed token.
/// Changing <c>M2M:Api:SigningKey</c> therefore invalidates every API key and refresh token.
/// </summary>
public sealed class CredentialHasher(SigningKeyProvider keys)
{
    private const int HashBytes = 32;
    private static readonly byte[] Info = "m2m credential hash v1"u8.ToArray();

    private readonly Lazy<byte[]> _key = new(() => HKDF.DeriveKey(HashAlgorithmName.SHA256, keys.Key.Key, HashBytes, salt: null, info: Info));

    /// <summary>The stored form of <paramref name="credential"/>: base64url of its HMAC.</summary>
    public string Hash(string credential)
    {
        Span<byte> mac = stackalloc byte[HashBytes];
        Compute(credential, mac);
        return Base64Url.EncodeToString(mac);
    }

    /// <summary>Whether <paramref name="credential"/> hashes to <paramref name="stored"/>, compared in constant time.</summary>
    public bool Matches(string credential, string stored)
    {
        Span<byte> mac = stackalloc byte[HashBytes];
        Span<byte> expected = stackalloc byte[HashBytes];
        Compute(credential, mac);
        return Base64Url.TryDecodeFromChars(stored, expected, out var written)
            && written == HashBytes
            && CryptographicOperations.FixedTimeEquals(mac, expected);
    }

    private void Compute(string credential, Span<byte> mac)
    {
        var bytes = Encoding.UTF8.GetBytes(credential);
        HMACSHA256.HashData(_key.Value, bytes, mac);
    }
}

/// <summary>
/// The text form of API keys and refresh tokens: <c>&lt;prefix&gt;&lt;id: 32 hex&gt;_&lt;secret: 43 base64url&gt;</c>,
/// e.g. <c>m2mk_5f0c8a4e…_Qm9…</c>. The id makes the lookup one read; the 32 random bytes of the
/// secret make guessing hopeless.
/// </summary>
public static class CredentialToken
{
    /// <summary>Prefix of API keys.</summary>
    public const string ApiKeyPrefix = "m2mk_";

    /// <summary>Prefix of refresh tokens.</summary>
    public const string RefreshPrefix = "m2mr_";

    private const int PrefixLength = 5;
    private const int IdLength = 32;
    private const int SecretBytes = 32;
    private const int SecretLength = 43;

    /// <summary>Length of every token.</summary>
    public const int Length = PrefixLength + IdLength + 1 + SecretLength;

    /// <summary>A new token of <paramref name="id"/> with a fresh random secret.</summary>
    public static string Create(string prefix, Guid id)
    {
        if (prefix.Length != PrefixLength)
        {
            throw new ArgumentException("A prefix has five characters.", nameof(prefix));
        }
        return prefix + id.ToString("N") + "_" + Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(SecretBytes));
    }

    /// <summary>The id of a well-formed token of <paramref name="prefix"/>; <c>false</c> for anything else.</summary>
    public static bool TryParse(string prefix, string? token, out Guid id)
    {
        id = Guid.Empty;
        if (token is null || token.Length != Length || !token.StartsWith(prefix, StringComparison.Ordinal) || token[PrefixLength + IdLength] != '_')
        {
            return false;
        }
        var secret = token.AsSpan(PrefixLength + IdLength + 1);
        foreach (var c in secret)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not '-' and not '_')
            {
                return false;
            }
        }
        return Guid.TryParseExact(token.AsSpan(PrefixLength, IdLength), "N", out id);
    }
}
