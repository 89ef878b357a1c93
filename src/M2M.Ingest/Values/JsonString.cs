using System.Buffers;
using System.Text;

namespace M2M.Ingest.Values;

/// <summary>
/// Turns device bytes into a JSON string literal (with its quotes), the stored form of "content as JSON string".
/// Invalid UTF-8 becomes U+FFFD; <c>"</c>, <c>\</c> and control characters are escaped; everything else is kept as is.
/// </summary>
public static class JsonString
{
    /// <summary>Returns the JSON string literal of the UTF-8 <paramref name="utf8"/> (one allocation: the result).</summary>
    public static string FromUtf8(ReadOnlySpan<byte> utf8)
    {
        // Worst case: every byte is a control character written as \u00XX (6 chars), plus the quotes.
        var max = checked((utf8.Length * 6) + 2);
        char[]? rented = null;
        var buffer = max <= 512 ? stackalloc char[512] : (rented = ArrayPool<char>.Shared.Rent(max));
        try
        {
            var length = Escape(utf8, buffer);
            return new string(buffer[..length]);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<char>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Returns the JSON string literal of a possibly multi-segment UTF-8 sequence.</summary>
    public static string FromUtf8(in ReadOnlySequence<byte> utf8)
    {
        if (utf8.IsSingleSegment)
        {
            return FromUtf8(utf8.FirstSpan);
        }

        var length = checked((int)utf8.Length);
        var rented = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            utf8.CopyTo(rented);
            return FromUtf8(rented.AsSpan(0, length));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private static int Escape(ReadOnlySpan<byte> utf8, Span<char> output)
    {
        var o = 0;
        output[o++] = '"';
        while (!utf8.IsEmpty)
        {
            var b = utf8[0];
            if (b < 0x80)
            {
                o = EscapeAscii((char)b, output, o);
                utf8 = utf8[1..];
                continue;
            }

            // Rune.DecodeFromUtf8 consumes the maximal invalid subsequence, as Encoding.UTF8 does.
            var status = Rune.DecodeFromUtf8(utf8, out var rune, out var consumed);
            if (status != OperationStatus.Done)
            {
                rune = Rune.ReplacementChar;
            }

            o += rune.EncodeToUtf16(output[o..]);
            utf8 = utf8[consumed..];
        }

        output[o++] = '"';
        return o;
    }

    private static int EscapeAscii(char c, Span<char> output, int o)
    {
        switch (c)
        {
            case '"':
                output[o++] = '\\';
                output[o++] = '"';
                break;
            case '\\':
                output[o++] = '\\';
                output[o++] = '\\';
                break;
            case '\n':
                output[o++] = '\\';
                output[o++] = 'n';
                break;
            case '\r':
                output[o++] = '\\';
                output[o++] = 'r';
                break;
            case '\t':
                output[o++] = '\\';
                output[o++] = 't';
                break;
            case '\b':
                output[o++] = '\\';
                output[o++] = 'b';
                break;
            case '\f':
                output[o++] = '\\';
                output[o++] = 'f';
                break;
            case < ' ' or '\x7f':
                output[o++] = '\\';
                output[o++] = 'u';
                output[o++] = '0';
                output[o++] = '0';
                output[o++] = "0123456789abcdef"[c >> 4];
                output[o++] = "0123456789abcdef"[c & 0xF];
                break;
            default:
                output[o++] = c;
                break;
        }

        return o;
    }
}
