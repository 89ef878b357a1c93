using System.Globalization;

namespace M2M.Ingest.Values;

/// <summary>
/// Decimal numbers as devices send them (ALIP locations, JSON numbers), parsed to the <see cref="double"/>
/// nearest to the decimal value — the same double as <see cref="double.Parse(string, IFormatProvider)"/>,
/// bit for bit — without allocating.
/// </summary>
/// <remarks>
/// <para>Fast path (Clinger's): when the digits, read as an integer <c>m</c> with the decimal point removed,
/// satisfy <c>m ≤ 2^53</c> and the power of ten <c>10^|e|</c> of the value <c>m × 10^e</c> has <c>|e| ≤ 22</c>,
/// both <c>m</c> and <c>10^|e|</c> are exact doubles, and one IEEE multiplication or division rounds their exact
/// product or quotient correctly: the result is the nearest double. This covers every coordinate, speed and
/// altitude a GPS sends (at most 16 significant digits and 22 decimals). Anything else — more significant
/// digits, a large exponent — is handed to <see cref="double.TryParse(ReadOnlySpan{byte}, NumberStyles, IFormatProvider, out double)"/>,
/// which is exact and slower.</para>
/// <para>Leading zeros are skipped before counting significant digits and trailing zeros of the fraction
/// are dropped, so <c>048.8500000000000000000000</c> still takes the fast path.</para>
/// </remarks>
public static class DecimalText
{
    /// <summary>Most digits a number may have (sign, point and exponent not counted).</summary>
    public const int MaxDigits = 40;

    private const ulong MaxExactMantissa = 1UL << 53;

    // A static array: a ReadOnlySpan<double> property over a collection expression allocates on every call.
    private static readonly double[] PowersOfTen =
    [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ];

    /// <summary>
    /// Parses a plain decimal:
    /// <code>
    /// decimal = [ "-" / "+" ] 1*DIGIT [ "." *DIGIT ]  /  [ "-" / "+" ] "." 1*DIGIT      ; at most 40 digits
    /// </code>
    /// No exponent, no spaces, no thousands separator, invariant culture. <c>-0</c> is negative zero.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> text, out double value) => TryParse(text, allowExponent: false, out value);

    /// <summary>
    /// Parses a decimal, with an exponent when <paramref name="allowExponent"/>:
    /// <code>
    /// number   = decimal [ ( "e" / "E" ) [ "-" / "+" ] 1*5DIGIT ]
    /// </code>
    /// A value too large for a double is refused (<c>false</c>), never infinity; one too small is zero.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> text, bool allowExponent, out double value) =>
        TryParsePrefix(text, allowExponent, out value, out var consumed) && consumed == text.Length;

    /// <summary>
    /// Parses the number at the start of <paramref name="text"/> (grammar of <see cref="TryParse(ReadOnlySpan{byte}, bool, out double)"/>)
    /// and says where it ends, so that a caller splitting fields (<c>48.85661,2.35222</c>) needs no separate search
    /// for the separator: <paramref name="consumed"/> is the index of the first byte after the number, which the
    /// caller checks. <c>false</c> when no number starts there (no digit, more than 40 digits, an <c>e</c> not followed
    /// by exponent digits when exponents are allowed, a value too large).
    /// </summary>
    public static bool TryParsePrefix(ReadOnlySpan<byte> text, bool allowExponent, out double value, out int consumed)
    {
        // The common case in one pass: at most 19 digits, so that the digits read as an integer are exact.
        var i = 0;
        var negative = false;
        if ((uint)i < (uint)text.Length && (text[0] == (byte)'-' || text[0] == (byte)'+'))
        {
            negative = text[0] == (byte)'-';
            i = 1;
        }

        ulong mantissa = 0;
        var digits = 0;
        var point = -1;
        for (; (uint)i < (uint)text.Length; i++)
        {
            var d = (uint)(text[i] - '0');
            if (d <= 9)
            {
                mantissa = (mantissa * 10) + d;
                digits++;
            }
            else if (text[i] == (byte)'.' && point < 0)
            {
                point = digits;
            }
            else
            {
                break;
            }
        }

        if (digits == 0 || digits > 19)
        {
            return TryParseLong(text, allowExponent, out value, out consumed);
        }

        var exponent = point < 0 ? 0 : point - digits;
        if (allowExponent && (uint)i < (uint)text.Length && (text[i] | 0x20) == (byte)'e')
        {
            if (!TryParseExponent(text, ref i, out var written))
            {
                value = 0;
                consumed = 0;
                return false;
            }

            exponent += written;
        }

        consumed = i;
        if (mantissa <= MaxExactMantissa && exponent is >= -22 and <= 22)
        {
            double result = mantissa;
            result = exponent < 0 ? result / PowersOfTen[-exponent] : result * PowersOfTen[exponent];
            value = negative ? -result : result;
            return true;
        }

        return Fallback(text[..i], allowExponent, out value);
    }

    /// <summary>
    /// Numbers of more than 19 digits (or none): leading zeros and the trailing zeros of the fraction are not
    /// significant, so many such numbers still take the fast path; the rest go to <see cref="Fallback"/>.
    /// </summary>
    private static bool TryParseLong(ReadOnlySpan<byte> text, bool allowExponent, out double value, out int consumed)
    {
        value = 0;
        consumed = 0;
        var i = 0;
        var negative = false;
        if (!text.IsEmpty && (text[0] == (byte)'-' || text[0] == (byte)'+'))
        {
            negative = text[0] == (byte)'-';
            i = 1;
        }

        ulong mantissa = 0;
        var digits = 0;
        // Significant digits taken into the mantissa (leading zeros skipped), and how many of them, or of the
        // zeros between the point and the first significant digit, lie after the point.
        var significant = 0;
        var scale = 0;
        // Zeros read after the last non-zero digit and not yet taken into the mantissa.
        var pendingZeros = 0;
        var pendingFractionZeros = 0;
        var exact = true;
        var point = false;
        for (; i < text.Length; i++)
        {
            var c = text[i];
            var d = (uint)(c - '0');
            if (d > 9)
            {
                if (c == (byte)'.' && !point)
                {
                    point = true;
                    continue;
                }

                break;
            }

            digits++;
            if (d == 0)
            {
                if (significant == 0)
                {
                    // A leading zero: only its place counts.
                    scale += point ? 1 : 0;
                }
                else
                {
                    pendingZeros++;
                    pendingFractionZeros += point ? 1 : 0;
                }

                continue;
            }

            // Zeros between two significant digits are significant.
            for (; pendingZeros > 0; pendingZeros--)
            {
                Take(ref mantissa, 0, ref significant, ref exact);
            }

            scale += pendingFractionZeros + (point ? 1 : 0);
            pendingFractionZeros = 0;
            Take(ref mantissa, d, ref significant, ref exact);
        }

        if (digits == 0 || digits > MaxDigits)
        {
            return false;
        }

        // Trailing zeros of the integer part multiply the value; those of the fraction do not change it.
        var exponent = (pendingZeros - pendingFractionZeros) - scale;
        if (allowExponent && i < text.Length && (text[i] | 0x20) == (byte)'e')
        {
            if (!TryParseExponent(text, ref i, out var written))
            {
                return false;
            }

            exponent += written;
        }

        consumed = i;
        if (mantissa == 0)
        {
            value = negative ? -0.0 : 0.0;
            return true;
        }

        if (exact && mantissa <= MaxExactMantissa && exponent is >= -22 and <= 22)
        {
            double result = mantissa;
            result = exponent < 0 ? result / PowersOfTen[-exponent] : result * PowersOfTen[exponent];
            value = negative ? -result : result;
            return true;
        }

        return Fallback(text[..i], allowExponent, out value);
    }

    /// <summary>Appends a digit to the mantissa while it stays exact in 64 bits (19 digits always do).</summary>
    private static void Take(ref ulong mantissa, uint digit, ref int significant, ref bool exact)
    {
        if (significant < 19)
        {
            mantissa = (mantissa * 10) + digit;
        }
        else
        {
            exact = false;
        }

        significant++;
    }

    // exponent = ( "e" / "E" ) [ "-" / "+" ] 1*5DIGIT, starting at text[i] (the "e"); moves i past it.
    private static bool TryParseExponent(ReadOnlySpan<byte> text, ref int i, out int exponent)
    {
        exponent = 0;
        var j = i + 1;
        var negative = false;
        if (j < text.Length && (text[j] == (byte)'-' || text[j] == (byte)'+'))
        {
            negative = text[j] == (byte)'-';
            j++;
        }

        var start = j;
        for (; j < text.Length; j++)
        {
            var d = (uint)(text[j] - '0');
            if (d > 9)
            {
                break;
            }

            exponent = (exponent * 10) + (int)d;
            if (j - start == 5)
            {
                // A sixth digit.
                return false;
            }
        }

        if (j == start)
        {
            return false;
        }

        exponent = negative ? -exponent : exponent;
        i = j;
        return true;
    }

    /// <summary>The exact but slower path, for numbers the fast path cannot round exactly (the text is already validated).</summary>
    private static bool Fallback(ReadOnlySpan<byte> text, bool allowExponent, out double value)
    {
        var styles = NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint | (allowExponent ? NumberStyles.AllowExponent : 0);
        return double.TryParse(text, styles, CultureInfo.InvariantCulture, out value) && double.IsFinite(value);
    }
}
