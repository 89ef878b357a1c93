using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace M2M.Storage.Entities;

/// <summary>
/// Per-device secrets: generation, the strength rule for caller-provided ones, hashing and
/// constant-time verification.
/// </summary>
/// <remarks>
/// A device secret is a machine credential, not a human password: the platform generates 32 random
/// bytes (256 bits) and a caller-provided one must have an estimated strength of at least
/// <see cref="MinStrengthBits"/> bits. Guessing such a secret from its hash is out of reach
/// whatever the hash costs, so the hash is a fast keyed one — HMAC-SHA256 keyed with a random
/// 16-byte salt per secret — instead of a deliberately slow password hash (PBKDF2 with 100,000
/// iterations costs ~50 ms of CPU, which would turn a reconnect storm of 10,000 devices into
/// minutes of CPU; HMAC-SHA256 costs about a microsecond). The salt makes equal secrets hash
/// differently and rules out precomputed tables. Stored form: <c>hs256$&lt;salt b64&gt;$&lt;mac b64&gt;</c>.
/// </remarks>
public static class DeviceSecrets
{
    /// <summary>Shortest accepted secret (characters).</summary>
    public const int MinLength = 20;

    /// <summary>Longest accepted secret (characters); an M2MP identification also needs ident + 1 + secret ≤ 255 bytes.</summary>
    public const int MaxLength = 128;

    /// <summary>Estimated strength a caller-provided secret must reach.</summary>
    public const int MinStrengthBits = 100;

    /// <summary>Distinct characters a caller-provided secret must have at least.</summary>
    public const int MinDistinctCharacters = 10;

    private const string Scheme = "hs256";
    private const int SaltBytes = 16;
    private const int GeneratedBytes = 32;

    /// <summary>A new secret: 32 random bytes in base64url without padding (43 characters).</summary>
    public static string Generate()
    {
        Span<byte> bytes = stackalloc byte[GeneratedBytes];
        RandomNumberGenerator.Fill(bytes);
        return Base64Url.EncodeToString(bytes);
    }

    /// <summary>
    /// Whether <paramref name="secret"/> may travel in an identification: <see cref="MinLength"/> to
    /// <see cref="MaxLength"/> printable ASCII characters without spaces (0x21–0x7E).
    /// </summary>
    public static bool IsWellFormed(ReadOnlySpan<char> secret)
    {
        if (secret.Length is < MinLength or > MaxLength)
        {
            return false;
        }
        foreach (var c in secret)
        {
            if (c is < '!' or > '~')
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>Byte form of <see cref="IsWellFormed(ReadOnlySpan{char})"/> (what devices send).</summary>
    public static bool IsWellFormed(ReadOnlySpan<byte> secret)
    {
        if (secret.Length is < MinLength or > MaxLength)
        {
            return false;
        }
        foreach (var c in secret)
        {
            if (c is < (byte)'!' or > (byte)'~')
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>
    /// Why a caller-provided secret is refused, or <c>null</c> when it is accepted: it must be well
    /// formed, have <see cref="MinDistinctCharacters"/> distinct characters, and its length times
    /// log2 of the size of the character classes it uses (lowercase 26, uppercase 26, digits 10,
    /// symbols 32) must reach <see cref="MinStrengthBits"/>.
    /// </summary>
    public static string? CheckStrength(string? secret)
    {
        if (secret is null || !IsWellFormed(secret.AsSpan()))
        {
            return $"A secret has {MinLength} to {MaxLength} printable ASCII characters without spaces.";
        }
        int pool = 0;
        bool lower = false, upper = false, digit = false, symbol = false;
        foreach (var c in secret)
        {
            if (char.IsAsciiLetterLower(c))
            {
                lower = true;
            }
            else if (char.IsAsciiLetterUpper(c))
            {
                upper = true;
            }
            else if (char.IsAsciiDigit(c))
            {
                digit = true;
            }
            else
            {
                symbol = true;
            }
        }
        pool += lower ? 26 : 0;
        pool += upper ? 26 : 0;
        pool += digit ? 10 : 0;
        pool += symbol ? 32 : 0;
        if (secret.Distinct().Count() < MinDistinctCharacters || secret.Length * Math.Log2(pool) < MinStrengthBits)
        {
            return $"Too weak: use a generated secret, or at least {MinStrengthBits} bits (e.g. 22 random letters and digits, {MinDistinctCharacters} distinct characters).";
        }
        return null;
    }

    /// <summary>The stored form of <paramref name="secret"/> (a new random salt each call).</summary>
    public static string Hash(string secret)
    {
        ArgumentNullException.ThrowIfNull(secret);
        Span<byte> salt = stackalloc byte[SaltBytes];
        RandomNumberGenerator.Fill(salt);
        Span<byte> mac = stackalloc byte[HMACSHA256.HashSizeInBytes];
        Mac(salt, Encoding.ASCII.GetBytes(secret), mac);
        return $"{Scheme}${Convert.ToBase64String(salt)}${Convert.ToBase64String(mac)}";
    }

    /// <summary>
    /// Whether <paramref name="secret"/> (as sent, ASCII bytes) matches <paramref name="stored"/>; the
    /// comparison takes the same time wherever the bytes differ. A malformed stored value matches nothing.
    /// </summary>
    public static bool Verify(ReadOnlySpan<byte> secret, string? stored)
    {
        if (stored is null)
        {
            return false;
        }
        var parts = stored.Split('$');
        if (parts.Length != 3 || parts[0] != Scheme)
        {
            return false;
        }
        Span<byte> salt = stackalloc byte[SaltBytes];
        Span<byte> expected = stackalloc byte[HMACSHA256.HashSizeInBytes];
        if (!Convert.TryFromBase64String(parts[1], salt, out var saltLength) || saltLength != SaltBytes
            || !Convert.TryFromBase64String(parts[2], expected, out var macLength) || macLength != expected.Length)
        {
            return false;
        }
        Span<byte> actual = stackalloc byte[HMACSHA256.HashSizeInBytes];
        Mac(salt, secret, actual);
        return CryptographicOperations.FixedTimeEquals(actual, expected);
    }

    /// <summary>String form of <see cref="Verify(ReadOnlySpan{byte}, string?)"/>.</summary>
    public static bool Verify(string secret, string? stored) => Verify(Encoding.ASCII.GetBytes(secret), stored);

    private static void Mac(ReadOnlySpan<byte> salt, ReadOnlySpan<byte> secret, Span<byte> destination) =>
        HMACSHA256.HashData(salt, secret, destination);
}
