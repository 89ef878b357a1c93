namespace M2M.Ingest.Values;

/// <summary>The three ALIP time formats, all UTC, parsed without allocating.</summary>
public static class AlipTime
{
    /// <summary>
    /// Parses an ALIP <c>&lt;time&gt;</c> into unix seconds:
    /// <code>
    /// time = 10*11DIGIT            ; unix seconds
    ///      / YY MM DD hh mm ss      ; 12 digits, year 20YY
    ///      / YYYY MM DD hh mm ss    ; 14 digits
    /// </code>
    /// Any other length, a non-digit, or a date/time that does not exist (month 13, 30 February, hour 24…)
    /// is <see cref="ValueError.InvalidTime"/>.
    /// </summary>
    public static ValueError TryParse(ReadOnlySpan<byte> text, out long unixSeconds)
    {
        unixSeconds = 0;
        if (text.Length is not (10 or 11 or 12 or 14))
        {
            return ValueError.InvalidTime;
        }

        foreach (var c in text)
        {
            if (c - (uint)'0' > 9)
            {
                return ValueError.InvalidTime;
            }
        }

        if (text.Length <= 11)
        {
            unixSeconds = Digits(text);
            return ValueError.None;
        }

        int year;
        if (text.Length == 12)
        {
            year = 2000 + (int)Digits(text[..2]);
            text = text[2..];
        }
        else
        {
            year = (int)Digits(text[..4]);
            text = text[4..];
        }

        var month = (int)Digits(text[..2]);
        var day = (int)Digits(text.Slice(2, 2));
        var hour = (int)Digits(text.Slice(4, 2));
        var minute = (int)Digits(text.Slice(6, 2));
        var second = (int)Digits(text.Slice(8, 2));
        if (year < 1 || month is < 1 or > 12 || day < 1 || day > DateTime.DaysInMonth(year, month)
            || hour > 23 || minute > 59 || second > 59)
        {
            return ValueError.InvalidTime;
        }

        unixSeconds = new DateTimeOffset(year, month, day, hour, minute, second, TimeSpan.Zero).ToUnixTimeSeconds();
        return ValueError.None;
    }

    private static long Digits(ReadOnlySpan<byte> text)
    {
        long value = 0;
        foreach (var c in text)
        {
            value = (value * 10) + (c - '0');
        }

        return value;
    }
}
