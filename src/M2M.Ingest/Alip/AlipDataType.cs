using System.Text;

namespace M2M.Ingest.Alip;

/// <summary>How the content of an ALIP record of a given type is stored.</summary>
public enum AlipDataKind
{
    /// <summary>The content as a JSON string (<see cref="Values.JsonString"/>).</summary>
    Text,

    /// <summary><c>L</c>: a location (<see cref="Values.Location.TryParseAlipL"/>), stored as <c>sen:loc</c>.</summary>
    Location,

    /// <summary><c>G</c>: a location with its own time (<see cref="Values.Location.TryParseAlipG"/>), stored as <c>sen:loc</c>.</summary>
    TimedLocation,

    /// <summary><c>LS:&lt;name&gt;</c>: a listed sensor, stored as <c>lsen:&lt;name&gt;</c> (the session marks the sensor as seen).</summary>
    ListedSensor,

    /// <summary><c>echo</c>: not stored, answered <c>D echo &lt;content&gt;</c>.</summary>
    Echo,
}

/// <summary>The stored record type of an ALIP type and how its content is stored.</summary>
/// <param name="Kind">How the content is stored.</param>
/// <param name="StoredType">The record type (<c>null</c> for <see cref="AlipDataKind.Echo"/>).</param>
public readonly record struct AlipDataType(AlipDataKind Kind, string? StoredType)
{
    private const int CachedIndexes = 64;

    private static readonly string[] Adc = CreateIndexed("sen:adc:");
    private static readonly string[] Gpio = CreateIndexed("sen:gpio:");

    /// <summary>
    /// Maps the ALIP <c>&lt;type&gt;</c> to the stored type (spec table "Data types"):
    /// <code>
    /// L → sen:loc   G → sen:loc   A&lt;n&gt; → sen:adc:&lt;n&gt;   DI&lt;n&gt; → sen:gpio:&lt;n&gt;   T → sen:temp   V → sen:volt
    /// D → sen:door  F → sen:fuel  E → sen:engine  SMS → sen:sms_received  VER → sen:version
    /// LS:&lt;name&gt; → lsen:&lt;name&gt;   echo → (not stored)   anything else → the type itself
    /// </code>
    /// <c>&lt;n&gt;</c> is 1 or more digits. Known types, and <c>A&lt;n&gt;</c>/<c>DI&lt;n&gt;</c> for n &lt; 64 written without
    /// leading zeros, return cached strings; other types allocate their string.
    /// </summary>
    public static AlipDataType Map(ReadOnlySpan<byte> type)
    {
        switch (type.Length)
        {
            case 1:
                switch (type[0])
                {
                    case (byte)'L': return new(AlipDataKind.Location, "sen:loc");
                    case (byte)'G': return new(AlipDataKind.TimedLocation, "sen:loc");
                    case (byte)'T': return new(AlipDataKind.Text, "sen:temp");
                    case (byte)'V': return new(AlipDataKind.Text, "sen:volt");
                    case (byte)'D': return new(AlipDataKind.Text, "sen:door");
                    case (byte)'F': return new(AlipDataKind.Text, "sen:fuel");
                    case (byte)'E': return new(AlipDataKind.Text, "sen:engine");
                }

                break;
            case 3 when type.SequenceEqual("SMS"u8):
                return new(AlipDataKind.Text, "sen:sms_received");
            case 3 when type.SequenceEqual("VER"u8):
                return new(AlipDataKind.Text, "sen:version");
            case 4 when type.SequenceEqual("echo"u8):
                return new(AlipDataKind.Echo, null);
        }

        if (type.Length >= 2 && type[0] == (byte)'A' && AllDigits(type[1..]))
        {
            return new(AlipDataKind.Text, Indexed(Adc, "sen:adc:", type[1..]));
        }

        if (type.Length >= 3 && type.StartsWith("DI"u8) && AllDigits(type[2..]))
        {
            return new(AlipDataKind.Text, Indexed(Gpio, "sen:gpio:", type[2..]));
        }

        if (type.StartsWith("LS:"u8))
        {
            return new(AlipDataKind.ListedSensor, Concat("lsen:", type[3..]));
        }

        return new(AlipDataKind.Text, Encoding.UTF8.GetString(type));
    }

    private static bool AllDigits(ReadOnlySpan<byte> text)
    {
        foreach (var c in text)
        {
            if (c - (uint)'0' > 9)
            {
                return false;
            }
        }

        return true;
    }

    private static string Indexed(string[] cache, string prefix, ReadOnlySpan<byte> digits)
    {
        if (digits.Length <= 2 && (digits.Length == 1 || digits[0] != (byte)'0'))
        {
            var n = digits.Length == 1 ? digits[0] - '0' : ((digits[0] - '0') * 10) + digits[1] - '0';
            if (n < CachedIndexes)
            {
                return cache[n];
            }
        }

        return Concat(prefix, digits);
    }

    private static string Concat(string prefix, ReadOnlySpan<byte> utf8) =>
        string.Concat(prefix, Encoding.UTF8.GetString(utf8));

    private static string[] CreateIndexed(string prefix)
    {
        var names = new string[CachedIndexes];
        for (var i = 0; i < names.Length; i++)
        {
            names[i] = prefix + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        return names;
    }
}
