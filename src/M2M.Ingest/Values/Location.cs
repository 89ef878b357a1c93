using System.Buffers;
using System.Buffers.Binary;
using System.Buffers.Text;
using System.Globalization;
using System.Text;

namespace M2M.Ingest.Values;

/// <summary>
/// A decoded location record: optional time, then either a satellite count or a position with optional speed and altitude.
/// Produced without allocating by <see cref="TryDecodeM2mp(ReadOnlySpan{byte}, out Location)"/>,
/// <see cref="TryParseAlipL"/> and <see cref="TryParseAlipG"/>; <see cref="ToJson"/> allocates the stored JSON once.
/// </summary>
public readonly record struct Location
{
    /// <summary>Unix seconds of the fix, when the payload carried one.</summary>
    public long? Time { get; init; }

    /// <summary>Satellites in view (a location without a position).</summary>
    public int? Satellites { get; init; }

    /// <summary>Whether <see cref="Latitude"/> and <see cref="Longitude"/> are set.</summary>
    public bool HasPosition { get; init; }

    public double Latitude { get; init; }

    public double Longitude { get; init; }

    public double? Speed { get; init; }

    public double? Altitude { get; init; }

    /// <summary>
    /// Decodes the M2MP <c>sen:loc</c> payload, field by field while bytes remain:
    /// <code>
    /// loc = [ u32 time ] [ u8 sat | f32 lat f32 lon [ u16 spd [ u16 alt ] ] ]     (big-endian)
    /// </code>
    /// Accepted lengths: 4 (time only), 5 (time, sat), 12 (time, lat, lon), 14 (+spd), 16 (+spd, alt).
    /// An empty payload, 1–3 bytes (a cut time) or any other leftover after the time
    /// (2, 3, 6, 7, 9, 11 or more than 12 bytes) is <see cref="ValueError.InvalidLocationLength"/>;
    /// a non-finite or out-of-range latitude/longitude is <see cref="ValueError.LocationOutOfRange"/>.
    /// </summary>
    public static ValueError TryDecodeM2mp(ReadOnlySpan<byte> payload, out Location location)
    {
        location = default;
        if (payload.Length < 4)
        {
            return ValueError.InvalidLocationLength;
        }

        long time = BinaryPrimitives.ReadUInt32BigEndian(payload);
        var rest = payload[4..];
        switch (rest.Length)
        {
            case 0:
                location = new Location { Time = time };
                return ValueError.None;
            case 1:
                location = new Location { Time = time, Satellites = rest[0] };
                return ValueError.None;
            case 8 or 10 or 12:
                var lat = FloatToShortestDouble(BinaryPrimitives.ReadSingleBigEndian(rest));
                var lon = FloatToShortestDouble(BinaryPrimitives.ReadSingleBigEndian(rest[4..]));
                if (!InRange(lat, lon))
                {
                    return ValueError.LocationOutOfRange;
                }

                location = new Location
                {
                    Time = time,
                    HasPosition = true,
                    Latitude = lat,
                    Longitude = lon,
                    Speed = rest.Length >= 10 ? BinaryPrimitives.ReadUInt16BigEndian(rest[8..]) : null,
                    Altitude = rest.Length >= 12 ? BinaryPrimitives.ReadUInt16BigEndian(rest[10..]) : null,
                };
                return ValueError.None;
            default:
                return ValueError.InvalidLocationLength;
        }
    }

    /// <summary>Decodes a possibly multi-segment M2MP <c>sen:loc</c> payload (see the span overload).</summary>
    public static ValueError TryDecodeM2mp(in ReadOnlySequence<byte> payload, out Location location)
    {
        if (payload.IsSingleSegment)
        {
            return TryDecodeM2mp(payload.FirstSpan, out location);
        }

        if (payload.Length > 16)
        {
            location = default;
            return ValueError.InvalidLocationLength;
        }

        Span<byte> copy = stackalloc byte[16];
        payload.CopyTo(copy);
        return TryDecodeM2mp(copy[..(int)payload.Length], out location);
    }

    /// <summary>
    /// Encodes a location as an M2MP <c>sen:loc</c> payload (the inverse of <see cref="TryDecodeM2mp(ReadOnlySpan{byte}, out Location)"/>);
    /// returns the bytes written (at most 16). Latitude and longitude are written as float32, speed and altitude as u16.
    /// </summary>
    public int EncodeM2mp(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt32BigEndian(destination, checked((uint)(Time ?? 0)));
        if (Satellites is { } sat)
        {
            destination[4] = checked((byte)sat);
            return 5;
        }

        if (!HasPosition)
        {
            return 4;
        }

        BinaryPrimitives.WriteSingleBigEndian(destination[4..], (float)Latitude);
        BinaryPrimitives.WriteSingleBigEndian(destination[8..], (float)Longitude);
        if (Speed is not { } speed)
        {
            return 12;
        }

        BinaryPrimitives.WriteUInt16BigEndian(destination[12..], checked((ushort)speed));
        if (Altitude is not { } altitude)
        {
            return 14;
        }

        BinaryPrimitives.WriteUInt16BigEndian(destination[14..], checked((ushort)altitude));
        return 16;
    }

    /// <summary>
    /// Parses the content of an ALIP <c>L</c> record:
    /// <code>
    /// L-content = sat / lat "," lon [ "," spd [ "," alt ] ]
    /// sat       = 1*DIGIT                       ; 0..2147483647
    /// lat, lon, spd, alt = [ "-" / "+" ] 1*DIGIT [ "." *DIGIT ]   ; invariant decimal
    /// </code>
    /// Anything else (empty fields, letters, NaN, a fifth field) is <see cref="ValueError.InvalidLocation"/>.
    /// </summary>
    public static ValueError TryParseAlipL(ReadOnlySpan<byte> content, out Location location)
    {
        // Parsed as a position first (the common case, one pass with no search for commas); content in which no
        // comma follows a first number is a satellite count when it has no comma at all, and refused otherwise.
        var error = TryParsePosition(content, null, out location, out var separated);
        if (separated)
        {
            return error;
        }

        location = default;
        if (content.IndexOf((byte)',') >= 0 || !TryParseNonNegativeInt(content, out var sat))
        {
            return ValueError.InvalidLocation;
        }

        location = new Location { Satellites = sat };
        return ValueError.None;
    }

    /// <summary>
    /// Parses the content of an ALIP <c>G</c> record:
    /// <code>
    /// G-content = time "," lat "," lon [ "," spd [ "," alt ] ]     ; time as in <see cref="AlipTime"/>
    /// </code>
    /// A bad time is <see cref="ValueError.InvalidTime"/>; bad numbers are <see cref="ValueError.InvalidLocation"/>.
    /// </summary>
    public static ValueError TryParseAlipG(ReadOnlySpan<byte> content, out Location location)
    {
        location = default;
        var comma = content.IndexOf((byte)',');
        if (comma < 0)
        {
            return ValueError.InvalidLocation;
        }

        var timeError = AlipTime.TryParse(content[..comma], out var time);
        if (timeError != ValueError.None)
        {
            return timeError;
        }

        return TryParsePosition(content[(comma + 1)..], time, out location);
    }

    /// <summary>
    /// Parses a location given as JSON (ALIP <c>J … sen:loc …</c>), in the shape <see cref="ToJson"/> writes:
    /// <code>
    /// { "sat": n }                                              ; n a non-negative integer
    /// { "lat": x, "lon": y [, "spd": s] [, "alt": a] }          ; numbers, |lat| &lt;= 90, |lon| &lt;= 180
    /// </code>
    /// Any other member, a repeated member, a non-number, or an empty object is <see cref="ValueError.InvalidLocation"/>;
    /// a latitude or longitude out of range is <see cref="ValueError.LocationOutOfRange"/>.
    /// </summary>
    public static ValueError TryParseJson(ReadOnlySpan<byte> json, out Location location)
    {
        location = default;
        double? lat = null, lon = null, spd = null, alt = null;
        int? sat = null;
        try
        {
            var reader = new System.Text.Json.Utf8JsonReader(json, new System.Text.Json.JsonReaderOptions { MaxDepth = 2 });
            if (!reader.Read() || reader.TokenType != System.Text.Json.JsonTokenType.StartObject)
            {
                return ValueError.InvalidLocation;
            }
            while (reader.Read() && reader.TokenType == System.Text.Json.JsonTokenType.PropertyName)
            {
                var name = reader.ValueSpan;
                if (!reader.Read() || reader.TokenType != System.Text.Json.JsonTokenType.Number || reader.ValueIsEscaped)
                {
                    return ValueError.InvalidLocation;
                }
                if (name.SequenceEqual("sat"u8))
                {
                    if (sat is not null || !reader.TryGetInt32(out var n) || n < 0)
                    {
                        return ValueError.InvalidLocation;
                    }
                    sat = n;
                    continue;
                }
                // DecimalText gives the same double as TryGetDouble, faster; numbers it does not take (more than
                // 40 digits, a long exponent, a value split across segments) go to TryGetDouble as before.
                if (!(DecimalText.TryParse(reader.ValueSpan, allowExponent: true, out var value) || reader.TryGetDouble(out value)) || !double.IsFinite(value))
                {
                    return ValueError.InvalidLocation;
                }
                ref var field = ref lat;
                if (name.SequenceEqual("lat"u8))
                {
                    field = ref lat;
                }
                else if (name.SequenceEqual("lon"u8))
                {
                    field = ref lon;
                }
                else if (name.SequenceEqual("spd"u8))
                {
                    field = ref spd;
                }
                else if (name.SequenceEqual("alt"u8))
                {
                    field = ref alt;
                }
                else
                {
                    return ValueError.InvalidLocation;
                }
                if (field is not null)
                {
                    return ValueError.InvalidLocation;
                }
                field = value;
            }
            if (reader.TokenType != System.Text.Json.JsonTokenType.EndObject || reader.Read())
            {
                return ValueError.InvalidLocation;
            }
        }
        catch (System.Text.Json.JsonException)
        {
            return ValueError.InvalidLocation;
        }

        if (sat is { } satellites)
        {
            if (lat is not null || lon is not null || spd is not null || alt is not null)
            {
                return ValueError.InvalidLocation;
            }
            location = new Location { Satellites = satellites };
            return ValueError.None;
        }
        if (lat is not { } la || lon is not { } lo)
        {
            return ValueError.InvalidLocation;
        }
        if (!InRange(la, lo))
        {
            return ValueError.LocationOutOfRange;
        }
        location = new Location { HasPosition = true, Latitude = la, Longitude = lo, Speed = spd, Altitude = alt };
        return ValueError.None;
    }

    // position = decimal "," decimal [ "," decimal [ "," decimal ] ]; each number is parsed where it starts and
    // ends at its first byte that is not part of it, which must be a comma or the end (no search for commas).
    private static ValueError TryParsePosition(ReadOnlySpan<byte> content, long? time, out Location location) =>
        TryParsePosition(content, time, out location, out _);

    /// <summary>Parses a position; <paramref name="separated"/> is <c>true</c> once a comma followed the first number (the content is meant as a position).</summary>
    private static ValueError TryParsePosition(ReadOnlySpan<byte> content, long? time, out Location location, out bool separated)
    {
        location = default;
        separated = false;
        // Locals rather than a stackalloc'd array: this runs for every position a device sends.
        double latitude = 0, longitude = 0, speed = 0, altitude = 0;
        var count = 0;
        var i = 0;
        while (true)
        {
            if (count == 4 || !DecimalText.TryParsePrefix(content[i..], allowExponent: false, out var value, out var used))
            {
                return ValueError.InvalidLocation;
            }

            switch (count++)
            {
                case 0: latitude = value; break;
                case 1: longitude = value; break;
                case 2: speed = value; break;
                default: altitude = value; break;
            }

            i += used;
            if (i == content.Length)
            {
                break;
            }

            if (content[i] != (byte)',')
            {
                return ValueError.InvalidLocation;
            }

            separated = true;
            i++;
        }

        if (count < 2)
        {
            return ValueError.InvalidLocation;
        }

        if (!InRange(latitude, longitude))
        {
            return ValueError.LocationOutOfRange;
        }

        location = new Location
        {
            Time = time,
            HasPosition = true,
            Latitude = latitude,
            Longitude = longitude,
            Speed = count >= 3 ? speed : null,
            Altitude = count >= 4 ? altitude : null,
        };
        return ValueError.None;
    }

    /// <summary>
    /// The stored JSON: <c>{"sat":n}</c>, or <c>{"lat":..,"lon":..[,"spd":..[,"alt":..]]}</c>, or <c>{}</c> for a time-only fix.
    /// Numbers use the shortest round-trip form. The time is not part of the JSON (it becomes the record time).
    /// </summary>
    public string ToJson()
    {
        Span<byte> buffer = stackalloc byte[160];
        var length = WriteJson(buffer);
        return Encoding.UTF8.GetString(buffer[..length]);
    }

    /// <summary>Writes <see cref="ToJson"/>'s text as UTF-8 into <paramref name="destination"/> (160 bytes always suffice); returns the bytes written.</summary>
    public int WriteJson(Span<byte> destination)
    {
        var o = 0;
        if (Satellites is { } sat)
        {
            Append(destination, ref o, "{\"sat\":"u8);
            Utf8Formatter.TryFormat(sat, destination[o..], out var n);
            o += n;
        }
        else if (HasPosition)
        {
            Append(destination, ref o, "{\"lat\":"u8);
            AppendNumber(destination, ref o, Latitude);
            Append(destination, ref o, ",\"lon\":"u8);
            AppendNumber(destination, ref o, Longitude);
            if (Speed is { } speed)
            {
                Append(destination, ref o, ",\"spd\":"u8);
                AppendNumber(destination, ref o, speed);
            }

            if (Altitude is { } altitude)
            {
                Append(destination, ref o, ",\"alt\":"u8);
                AppendNumber(destination, ref o, altitude);
            }
        }
        else
        {
            destination[o++] = (byte)'{';
        }

        destination[o++] = (byte)'}';
        return o;
    }

    private static void Append(Span<byte> destination, ref int o, ReadOnlySpan<byte> text)
    {
        text.CopyTo(destination[o..]);
        o += text.Length;
    }

    private static void AppendNumber(Span<byte> destination, ref int o, double value)
    {
        value.TryFormat(destination[o..], out var n, "R", CultureInfo.InvariantCulture);
        o += n;
    }

    private static bool InRange(double lat, double lon) =>
        double.IsFinite(lat) && double.IsFinite(lon) && Math.Abs(lat) <= 90 && Math.Abs(lon) <= 180;

    /// <summary>A float32 as the double of its shortest decimal form (48.85f → 48.85, not 48.849998474121094).</summary>
    private static double FloatToShortestDouble(float value)
    {
        if (!float.IsFinite(value))
        {
            return double.NaN;
        }

        Span<byte> text = stackalloc byte[32];
        value.TryFormat(text, out var n, "R", CultureInfo.InvariantCulture);
        // "R" writes at most 9 significant digits and an exponent like E-05 or E+15: DecimalText's fast path.
        return DecimalText.TryParse(text[..n], allowExponent: true, out var result) ? result : double.Parse(text[..n], NumberStyles.Float, CultureInfo.InvariantCulture);
    }

    /// <summary>Parses 1*DIGIT into a non-negative <see cref="int"/> (no sign, no spaces, no overflow).</summary>
    internal static bool TryParseNonNegativeInt(ReadOnlySpan<byte> text, out int value)
    {
        value = 0;
        if (text.IsEmpty || text.Length > 10)
        {
            return false;
        }

        long result = 0;
        foreach (var c in text)
        {
            var d = c - (uint)'0';
            if (d > 9)
            {
                return false;
            }

            result = (result * 10) + d;
        }

        if (result > int.MaxValue)
        {
            return false;
        }

        value = (int)result;
        return true;
    }
}
