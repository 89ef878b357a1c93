namespace M2M.Ingest.Values;

/// <summary>Format checks of device identifications, on the raw bytes.</summary>
public static class Identification
{
    /// <summary>
    /// The ALIP ident format <c>^[a-z][0-9a-z]{2,6}:[a-zA-Z0-9]{4,20}$</c> (e.g. <c>imei:35412345678</c>), checked by hand.
    /// </summary>
    public static bool IsValidAlip(ReadOnlySpan<byte> ident)
    {
        var colon = ident.IndexOf((byte)':');
        if (colon is < 3 or > 7)
        {
            return false;
        }

        var prefix = ident[..colon];
        if (!IsLower(prefix[0]))
        {
            return false;
        }

        foreach (var c in prefix[1..])
        {
            if (!IsLower(c) && !IsDigit(c))
            {
                return false;
            }
        }

        var id = ident[(colon + 1)..];
        if (id.Length is < 4 or > 20)
        {
            return false;
        }

        foreach (var c in id)
        {
            if (!IsLower(c) && !IsDigit(c) && c - (uint)'A' > 'Z' - 'A')
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>An M2MP ident: 1–255 bytes of printable ASCII without spaces (0x21–0x7E).</summary>
    public static bool IsValidM2mp(ReadOnlySpan<byte> ident)
    {
        if (ident.Length is < 1 or > 255)
        {
            return false;
        }

        foreach (var c in ident)
        {
            if (c - 0x21u > 0x7E - 0x21)
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsLower(byte c) => c - (uint)'a' <= 'z' - 'a';

    private static bool IsDigit(byte c) => c - (uint)'0' <= 9;
}
