using System.Security.Cryptography;
using System.Text;

namespace M2M.Storage.Entities;

/// <summary>Device ids and idents: the deterministic id of an ident and ident validation.</summary>
public static class DeviceIds
{
    /// <summary>The fixed namespace of device ids derived from idents (UUID v5).</summary>
    public static readonly Guid IdentNamespace = new("6d32d2b0-5b1a-4c55-9d3e-2f6a1d0c7e41");

    /// <summary>Maximum ident length.</summary>
    public const int MaxIdentLength = 255;

    /// <summary>The time-series id of a device's records: <c>dev-&lt;id&gt;</c> (lowercase, with dashes).</summary>
    public static string SeriesId(Guid deviceId) => $"dev-{deviceId:D}";

    /// <summary>The name-based UUID (version 5, SHA-1, RFC 9562) of <paramref name="ident"/> in <see cref="IdentNamespace"/>.</summary>
    public static Guid FromIdent(string ident)
    {
        ArgumentNullException.ThrowIfNull(ident);
        return NameBased(IdentNamespace, ident);
    }

    /// <summary>A version-5 UUID of <paramref name="text"/> (UTF-8) in <paramref name="namespaceId"/>.</summary>
    internal static Guid NameBased(Guid namespaceId, string text)
    {
        var name = Encoding.UTF8.GetBytes(text);
        var input = new byte[16 + name.Length];
        namespaceId.TryWriteBytes(input, bigEndian: true, out _);
        name.CopyTo(input, 16);
        Span<byte> hash = stackalloc byte[20];
        SHA1.HashData(input, hash);
        hash[6] = (byte)((hash[6] & 0x0F) | 0x50);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return new Guid(hash[..16], bigEndian: true);
    }

    /// <summary>
    /// Validates an ident: 1–255 printable ASCII characters (0x21–0x7E), no space. Protocols may
    /// apply stricter formats (ALIP) before calling the store.
    /// </summary>
    /// <exception cref="InvalidIdentException">Invalid ident.</exception>
    public static void ValidateIdent(string? ident)
    {
        if (string.IsNullOrEmpty(ident))
        {
            throw new InvalidIdentException(ident ?? "", "empty");
        }
        if (ident.Length > MaxIdentLength)
        {
            throw new InvalidIdentException(ident, $"longer than {MaxIdentLength} characters");
        }
        foreach (var c in ident)
        {
            if (c is < '!' or > '~')
            {
                throw new InvalidIdentException(ident, "only printable ASCII without spaces is allowed");
            }
        }
    }
}
