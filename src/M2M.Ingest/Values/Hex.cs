namespace M2M.Ingest.Values;

/// <summary>Lower-case hexadecimal encoding and case-insensitive decoding of bytes, without allocating.</summary>
public static class Hex
{
    private static ReadOnlySpan<byte> Digits => "0123456789abcdef"u8;

    /// <summary>Number of hex characters needed for <paramref name="byteCount"/> bytes.</summary>
    public static int GetEncodedLength(int byteCount) => checked(byteCount * 2);

    /// <summary>Writes the lower-case hex form of <paramref name="source"/> into <paramref name="destination"/>; returns the bytes written.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than twice <paramref name="source"/>.</exception>
    public static int Encode(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        var length = GetEncodedLength(source.Length);
        if (destination.Length < length)
        {
            throw new ArgumentException("The destination is too small for the hex form.", nameof(destination));
        }

        var digits = Digits;
        for (var i = 0; i < source.Length; i++)
        {
            var b = source[i];
            destination[2 * i] = digits[b >> 4];
            destination[(2 * i) + 1] = digits[b & 0xF];
        }

        return length;
    }

    /// <summary>
    /// Decodes hex text (upper or lower case) into <paramref name="destination"/>.
    /// Fails with <see cref="ValueError.InvalidHex"/> for an odd length, a non-hex character or a destination too small.
    /// </summary>
    public static ValueError TryDecode(ReadOnlySpan<byte> hex, Span<byte> destination, out int written)
    {
        written = 0;
        if ((hex.Length & 1) != 0 || destination.Length < hex.Length / 2)
        {
            return ValueError.InvalidHex;
        }

        for (var i = 0; i < hex.Length; i += 2)
        {
            var hi = FromHexDigit(hex[i]);
            var lo = FromHexDigit(hex[i + 1]);
            if ((hi | lo) < 0)
            {
                written = 0;
                return ValueError.InvalidHex;
            }

            destination[i / 2] = (byte)((hi << 4) | lo);
        }

        written = hex.Length / 2;
        return ValueError.None;
    }

    private static int FromHexDigit(byte c) => c switch
    {
        >= (byte)'0' and <= (byte)'9' => c - '0',
        >= (byte)'a' and <= (byte)'f' => c - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => c - 'A' + 10,
        _ => -1,
    };
}
