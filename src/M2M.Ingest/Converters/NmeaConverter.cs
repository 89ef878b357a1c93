using System.Buffers.Text;
using System.Globalization;
using M2M.Ingest.Values;

namespace M2M.Ingest.Converters;

/// <summary>
/// The converter of topic <c>nmea</c>: NMEA 0183 sentences from a GPS receiver (what many trackers
/// forward as is) to <c>sen:loc</c> records in the platform's location format
/// (<c>{"lat":..,"lon":..,"spd":..,"alt":..}</c>, speed in km/h, altitude in metres).
/// </summary>
/// <remarks>
/// <para>A frame holds one or more sentences, separated by line breaks or simply concatenated:</para>
/// <code>
/// sentence = "$" talker type *( "," field ) "*" checksum [ CR ] [ LF ]   ; talker: 2 letters (GP, GN, GL, GA, BD…)
/// checksum = 2HEXDIG                                               ; XOR of every byte between "$" and "*"
/// RMC      = time "," status "," lat "," N/S "," lon "," E/W "," knots "," course "," ddmmyy [ "," … ]
/// GGA      = time "," lat "," N/S "," lon "," E/W "," quality "," satellites "," hdop "," altitude "," "M" [ "," … ]
/// time     = hhmmss[.ss]  (UTC)     lat = ddmm.mmmm     lon = dddmm.mmmm
/// </code>
/// <para>RMC and GGA sentences of one fix (same time of day) become one record: position and speed from
/// RMC, altitude from GGA. Its time is the fix time: RMC carries the date; a GGA alone takes the date of
/// the frame's time (the day before or after when that is closer, around midnight). A fix marked invalid
/// (RMC status <c>V</c>, GGA quality <c>0</c>) gives no record; other sentence types (GSV, VTG…) are
/// ignored. A sentence with a wrong or missing checksum, or a field that does not parse, is skipped; a
/// frame with no usable sentence at all is refused with the reason (kept with the raw frame).</para>
/// </remarks>
public sealed class NmeaConverter : IChannelConverter
{
    /// <summary>The topic this converter serves.</summary>
    public const string TopicName = "nmea";

    /// <summary>Longest sentence accepted (the standard says 82 characters; some receivers send a little more).</summary>
    public const int MaxSentenceLength = 128;

    private const double KnotsToKmh = 1.852;

    public string Topic => TopicName;

    public ValueTask<IReadOnlyList<ConvertedRecord>> ConvertAsync(ConverterInput input, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        return ValueTask.FromResult(Convert(input.Payload.Span, input.Time));
    }

    /// <summary>The records of the sentences in <paramref name="payload"/>; <paramref name="frameTime"/> dates GGA-only fixes.</summary>
    /// <exception cref="ChannelConversionException">No sentence of the frame could be read.</exception>
    public static IReadOnlyList<ConvertedRecord> Convert(ReadOnlySpan<byte> payload, DateTimeOffset frameTime)
    {
        var fixes = new List<Fix>();
        var sentences = 0;
        string? firstError = null;
        var rest = payload;
        while (true)
        {
            var start = rest.IndexOf((byte)'$');
            if (start < 0)
            {
                break;
            }
            rest = rest[(start + 1)..];
            var end = rest.IndexOfAny("$\r\n"u8);
            var sentence = end < 0 ? rest : rest[..end];
            rest = end < 0 ? [] : rest[end..];
            var error = Read(sentence, frameTime, fixes);
            if (error is null)
            {
                sentences++;
            }
            else
            {
                firstError ??= error;
            }
        }
        if (sentences == 0)
        {
            throw new ChannelConversionException(firstError is null ? "No NMEA sentence (none starts with '$')." : $"No valid NMEA sentence: {firstError}.");
        }
        var records = new List<ConvertedRecord>(fixes.Count);
        foreach (var fix in fixes)
        {
            if (fix.Valid && fix.HasPosition)
            {
                var location = new Location
                {
                    HasPosition = true,
                    Latitude = fix.Latitude,
                    Longitude = fix.Longitude,
                    Speed = fix.SpeedKmh,
                    Altitude = fix.Altitude,
                };
                records.Add(new ConvertedRecord("sen:loc", fix.Time, location.ToJson()));
            }
        }
        return records;
    }

    /// <summary>One fix, merged from the sentences of the same time of day.</summary>
    private sealed class Fix
    {
        public required TimeSpan TimeOfDay { get; init; }
        public DateTimeOffset Time { get; set; }
        public bool Dated { get; set; }
        public bool Valid { get; set; } = true;
        public bool HasPosition { get; set; }
        public double Latitude { get; set; }
        public double Longitude { get; set; }
        public double? Speed { get; set; }
        public double? SpeedKmh => Speed is { } knots ? Math.Round(knots * KnotsToKmh, 2) : null;
        public double? Altitude { get; set; }
    }

    /// <summary>Reads one sentence (without its <c>$</c>) into <paramref name="fixes"/>; the reason when it is not valid NMEA.</summary>
    private static string? Read(ReadOnlySpan<byte> sentence, DateTimeOffset frameTime, List<Fix> fixes)
    {
        if (sentence.Length > MaxSentenceLength)
        {
            return "sentence too long";
        }
        var star = sentence.LastIndexOf((byte)'*');
        if (star < 0 || sentence.Length - star - 1 < 2)
        {
            return "missing checksum";
        }
        var body = sentence[..star];
        if (!TryHexByte(sentence.Slice(star + 1, 2), out var expected) || !sentence[(star + 3)..].Trim(" \t"u8).IsEmpty)
        {
            return "malformed checksum";
        }
        byte sum = 0;
        foreach (var b in body)
        {
            if (b is < 0x20 or > 0x7E)
            {
                return "not printable ASCII";
            }
            sum ^= b;
        }
        if (sum != expected)
        {
            return "wrong checksum";
        }
        Span<Range> fields = stackalloc Range[24];
        var count = 0;
        foreach (var field in body.Split((byte)','))
        {
            if (count == fields.Length)
            {
                return "too many fields";
            }
            fields[count++] = field;
        }
        if (count < 1 || body[fields[0]].Length != 5)
        {
            return "no sentence type";
        }
        var type = body[fields[0]][2..];
        if (type.SequenceEqual("RMC"u8))
        {
            return count >= 10 ? ReadRmc(body, fields, frameTime, fixes) : "RMC: too few fields";
        }
        if (type.SequenceEqual("GGA"u8))
        {
            return count >= 10 ? ReadGga(body, fields, frameTime, fixes) : "GGA: too few fields";
        }
        return null; // a valid sentence of a type that carries no fix (GSV, VTG, GSA…)
    }

    private static string? ReadRmc(ReadOnlySpan<byte> body, Span<Range> f, DateTimeOffset frameTime, List<Fix> fixes)
    {
        if (!TryTimeOfDay(body[f[1]], out var timeOfDay) || !TryDate(body[f[9]], frameTime.UtcDateTime.Year, out var date))
        {
            return "RMC: bad time or date";
        }
        var valid = body[f[2]].SequenceEqual("A"u8);
        // A GGA of the same fix read before took its date from the frame: the RMC's date wins.
        var fix = FixAt(fixes, timeOfDay);
        fix.Time = new DateTimeOffset(date.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero) + timeOfDay;
        fix.Dated = true;
        fix.Valid &= valid;
        if (!valid)
        {
            return null;
        }
        if (!TryCoordinate(body[f[3]], body[f[4]], 2, 90, out var lat) || !TryCoordinate(body[f[5]], body[f[6]], 3, 180, out var lon))
        {
            return "RMC: bad position";
        }
        fix.HasPosition = true;
        fix.Latitude = lat;
        fix.Longitude = lon;
        if (!body[f[7]].IsEmpty)
        {
            if (!TryNumber(body[f[7]], out var knots) || knots < 0)
            {
                return "RMC: bad speed";
            }
            fix.Speed = knots;
        }
        return null;
    }

    private static string? ReadGga(ReadOnlySpan<byte> body, Span<Range> f, DateTimeOffset frameTime, List<Fix> fixes)
    {
        if (!TryTimeOfDay(body[f[1]], out var timeOfDay))
        {
            return "GGA: bad time";
        }
        if (!int.TryParse(body[f[6]], NumberStyles.None, CultureInfo.InvariantCulture, out var quality))
        {
            return "GGA: bad fix quality";
        }
        var fix = FixAt(fixes, timeOfDay);
        if (!fix.Dated)
        {
            fix.Time = NearestDay(frameTime, timeOfDay);
        }
        if (quality == 0)
        {
            fix.Valid = false;
            return null;
        }
        if (!TryCoordinate(body[f[2]], body[f[3]], 2, 90, out var lat) || !TryCoordinate(body[f[4]], body[f[5]], 3, 180, out var lon))
        {
            return "GGA: bad position";
        }
        if (!fix.HasPosition)
        {
            fix.HasPosition = true;
            fix.Latitude = lat;
            fix.Longitude = lon;
        }
        if (!body[f[9]].IsEmpty)
        {
            if (!TryNumber(body[f[9]], out var altitude))
            {
                return "GGA: bad altitude";
            }
            fix.Altitude = altitude;
        }
        return null;
    }

    private static Fix FixAt(List<Fix> fixes, TimeSpan timeOfDay)
    {
        foreach (var fix in fixes)
        {
            if (fix.TimeOfDay == timeOfDay)
            {
                return fix;
            }
        }
        var created = new Fix { TimeOfDay = timeOfDay };
        fixes.Add(created);
        return created;
    }

    /// <summary>The instant at <paramref name="timeOfDay"/> (UTC) on the day of <paramref name="frameTime"/>, or the day before or after when closer.</summary>
    private static DateTimeOffset NearestDay(DateTimeOffset frameTime, TimeSpan timeOfDay)
    {
        var utc = frameTime.ToUniversalTime();
        var sameDay = new DateTimeOffset(utc.Year, utc.Month, utc.Day, 0, 0, 0, TimeSpan.Zero) + timeOfDay;
        var best = sameDay;
        foreach (var candidate in new[] { sameDay.AddDays(-1), sameDay.AddDays(1) })
        {
            if ((candidate - utc).Duration() < (best - utc).Duration())
            {
                best = candidate;
            }
        }
        return best;
    }

    /// <summary><c>hhmmss[.s…]</c>, rounded to the millisecond.</summary>
    private static bool TryTimeOfDay(ReadOnlySpan<byte> text, out TimeSpan time)
    {
        time = default;
        if (text.Length < 6 || !TwoDigits(text, 0, out var h) || !TwoDigits(text, 2, out var m) || !TwoDigits(text, 4, out var s) || h > 23 || m > 59 || s > 60)
        {
            return false;
        }
        double fraction = 0;
        if (text.Length > 6)
        {
            if (text[6] != (byte)'.' || text.Length == 7 || !TryNumber(text[6..], out fraction))
            {
                return false;
            }
        }
        time = new TimeSpan(h, m, Math.Min(s, 59)) + TimeSpan.FromMilliseconds(Math.Round(fraction * 1000));
        return time < TimeSpan.FromDays(1);
    }

    /// <summary><c>ddmmyy</c>, in the century that puts the year within 50 years of <paramref name="nearYear"/> (the frame's).</summary>
    private static bool TryDate(ReadOnlySpan<byte> text, int nearYear, out DateOnly date)
    {
        date = default;
        if (text.Length != 6 || !TwoDigits(text, 0, out var d) || !TwoDigits(text, 2, out var m) || !TwoDigits(text, 4, out var y))
        {
            return false;
        }
        var year = (nearYear / 100 * 100) + y;
        year += year > nearYear + 50 ? -100 : year < nearYear - 50 ? 100 : 0;
        if (year is < 1 or > 9999 || m is < 1 or > 12 || d < 1 || d > DateTime.DaysInMonth(year, m))
        {
            return false;
        }
        date = new DateOnly(year, m, d);
        return true;
    }

    /// <summary><c>(d)ddmm.mmmm</c> and a hemisphere letter to signed decimal degrees, rounded to 7 decimals (about 1 cm).</summary>
    private static bool TryCoordinate(ReadOnlySpan<byte> text, ReadOnlySpan<byte> hemisphere, int degreeDigits, int maxDegrees, out double value)
    {
        value = 0;
        if (text.Length < degreeDigits + 2 || hemisphere.Length != 1
            || !int.TryParse(text[..degreeDigits], NumberStyles.None, CultureInfo.InvariantCulture, out var degrees)
            || !TryNumber(text[degreeDigits..], out var minutes) || minutes >= 60 || minutes < 0)
        {
            return false;
        }
        value = degrees + (minutes / 60);
        if (value > maxDegrees)
        {
            return false;
        }
        switch (hemisphere[0])
        {
            case (byte)'N' when maxDegrees == 90:
            case (byte)'E' when maxDegrees == 180:
                break;
            case (byte)'S' when maxDegrees == 90:
            case (byte)'W' when maxDegrees == 180:
                value = -value;
                break;
            default:
                return false;
        }
        value = Math.Round(value, 7);
        return true;
    }

    private static bool TryNumber(ReadOnlySpan<byte> text, out double value)
        => Utf8Parser.TryParse(text, out value, out var consumed) && consumed == text.Length && double.IsFinite(value);

    private static bool TwoDigits(ReadOnlySpan<byte> text, int at, out int value)
    {
        value = 0;
        if (!char.IsAsciiDigit((char)text[at]) || !char.IsAsciiDigit((char)text[at + 1]))
        {
            return false;
        }
        value = ((text[at] - '0') * 10) + (text[at + 1] - '0');
        return true;
    }

    private static bool TryHexByte(ReadOnlySpan<byte> text, out byte value)
        => byte.TryParse(text, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
}
