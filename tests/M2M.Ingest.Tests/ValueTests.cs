using System.Text;
using System.Text.Json;
using M2M.Ingest.Alip;
using M2M.Ingest.Values;

namespace M2M.Ingest.Tests;

public sealed class LocationTests
{
    [Theory]
    [InlineData("", ValueError.InvalidLocationLength, null)]
    [InlineData("6553f1", ValueError.InvalidLocationLength, null)]
    [InlineData("6553f100", ValueError.None, "{}")]
    [InlineData("6553f100 07", ValueError.None, """{"sat":7}""")]
    [InlineData("6553f100 0708", ValueError.InvalidLocationLength, null)]
    [InlineData("6553f100 070809", ValueError.InvalidLocationLength, null)]
    [InlineData("6553f100 42436666 401666", ValueError.InvalidLocationLength, null)]
    [InlineData("6553f100 42436666 40166666", ValueError.None, """{"lat":48.85,"lon":2.35}""")]
    [InlineData("6553f100 42436666 40166666 00", ValueError.InvalidLocationLength, null)]
    [InlineData("6553f100 42436666 40166666 002a", ValueError.None, """{"lat":48.85,"lon":2.35,"spd":42}""")]
    [InlineData("6553f100 42436666 40166666 002a 00", ValueError.InvalidLocationLength, null)]
    [InlineData("6553f100 42436666 40166666 002a 0023", ValueError.None, """{"lat":48.85,"lon":2.35,"spd":42,"alt":35}""")]
    [InlineData("6553f100 42436666 40166666 002a 0023 00", ValueError.InvalidLocationLength, null)]
    [InlineData("6553f100 7fc00000 40166666", ValueError.LocationOutOfRange, null)] // NaN latitude
    [InlineData("6553f100 42c80000 40166666", ValueError.LocationOutOfRange, null)] // latitude 100
    [InlineData("6553f100 c2436666 c3340000", ValueError.None, """{"lat":-48.85,"lon":-180}""")]
    public void Binary_location_is_decoded_field_by_field_and_leftover_bytes_are_refused(string hex, ValueError error, string? json)
    {
        var payload = Bytes.FromHex(hex);
        Assert.Equal(error, Location.TryDecodeM2mp(payload, out var location));
        if (json is not null)
        {
            Assert.Equal(1700000000, location.Time);
            Assert.Equal(json, location.ToJson());
        }

        // Split payloads decode alike.
        foreach (var split in TestSequenceSegment.AllSplits(payload))
        {
            Assert.Equal(error, Location.TryDecodeM2mp(split, out var splitLocation));
            Assert.Equal(location, splitLocation);
        }
    }

    [Fact]
    public void Binary_location_encodes_back_to_the_same_bytes()
    {
        Span<byte> encoded = stackalloc byte[16];
        foreach (var hex in new[] { "6553f100", "6553f10007", "6553f1004243666640166666", "6553f1004243666640166666002a", "6553f1004243666640166666002a0023" })
        {
            var payload = Bytes.FromHex(hex);
            Assert.Equal(ValueError.None, Location.TryDecodeM2mp(payload, out var location));
            Assert.Equal(hex, Bytes.ToHex(encoded[..location.EncodeM2mp(encoded)]));
        }
    }

    [Theory]
    [InlineData("48.85661,2.35222,42,35", """{"lat":48.85661,"lon":2.35222,"spd":42,"alt":35}""")]
    [InlineData("48.85661,2.35222", """{"lat":48.85661,"lon":2.35222}""")]
    [InlineData("-48.5,+2.25,0.5", """{"lat":-48.5,"lon":2.25,"spd":0.5}""")]
    [InlineData("7", """{"sat":7}""")]
    [InlineData("0", """{"sat":0}""")]
    public void Alip_L_content_is_parsed(string content, string json)
    {
        Assert.Equal(ValueError.None, Location.TryParseAlipL(Encoding.ASCII.GetBytes(content), out var location));
        Assert.Null(location.Time);
        Assert.Equal(json, location.ToJson());
    }

    [Theory]
    [InlineData("", ValueError.InvalidLocation)]
    [InlineData("abc", ValueError.InvalidLocation)]
    [InlineData("7.5", ValueError.InvalidLocation)]
    [InlineData("-7", ValueError.InvalidLocation)]
    [InlineData("99999999999", ValueError.InvalidLocation)]
    [InlineData("48.8", ValueError.InvalidLocation)]
    [InlineData("48.8,", ValueError.InvalidLocation)]
    [InlineData(",2.3", ValueError.InvalidLocation)]
    [InlineData("48.8,2.3,1,2,3", ValueError.InvalidLocation)]
    [InlineData("48.8,2.3,x", ValueError.InvalidLocation)]
    [InlineData("NaN,2.3", ValueError.InvalidLocation)]
    [InlineData("1e5,2.3", ValueError.InvalidLocation)]
    [InlineData("48.8.1,2.3", ValueError.InvalidLocation)]
    [InlineData(" 48.8,2.3", ValueError.InvalidLocation)]
    [InlineData("48,8,2,3", ValueError.None)]
    [InlineData("91,2.3", ValueError.LocationOutOfRange)]
    [InlineData("45,180.5", ValueError.LocationOutOfRange)]
    public void Alip_L_content_that_is_not_numbers_is_refused(string content, ValueError error)
    {
        Assert.Equal(error, Location.TryParseAlipL(Encoding.ASCII.GetBytes(content), out _));
    }

    [Theory]
    [InlineData("1700000000,48.85,2.35", 1700000000L, ValueError.None)]
    [InlineData("231114221320,48.85,2.35,42,35", 1700000000L, ValueError.None)]
    [InlineData("20231114221320,48.85,2.35,42", 1700000000L, ValueError.None)]
    [InlineData("99,48.85,2.35", 0L, ValueError.InvalidTime)]
    [InlineData("1700000000", 0L, ValueError.InvalidLocation)]
    [InlineData("1700000000,48.85", 0L, ValueError.InvalidLocation)]
    [InlineData("1700000000,a,b", 0L, ValueError.InvalidLocation)]
    public void Alip_G_content_carries_its_own_time(string content, long time, ValueError error)
    {
        Assert.Equal(error, Location.TryParseAlipG(Encoding.ASCII.GetBytes(content), out var location));
        if (error == ValueError.None)
        {
            Assert.Equal(time, location.Time);
            Assert.True(location.HasPosition);
        }
    }

    [Fact]
    public void Location_json_is_valid_json()
    {
        Assert.Equal(ValueError.None, Location.TryParseAlipL("-0.000001,179.999999,65535,12345.678"u8, out var location));
        using var document = JsonDocument.Parse(location.ToJson());
        Assert.Equal(-0.000001, document.RootElement.GetProperty("lat").GetDouble());
        Assert.Equal(12345.678, document.RootElement.GetProperty("alt").GetDouble());
    }
}

public sealed class AlipTimeTests
{
    [Theory]
    [InlineData("1700000000", 1700000000L)]
    [InlineData("0000000000", 0L)]
    [InlineData("17000000000", 17000000000L)]
    [InlineData("231114221320", 1700000000L)]
    [InlineData("20231114221320", 1700000000L)]
    [InlineData("000101000000", 946684800L)]
    [InlineData("20240229235959", 1709251199L)]
    public void Three_formats_parse_as_utc(string text, long expected)
    {
        Assert.Equal(ValueError.None, AlipTime.TryParse(Encoding.ASCII.GetBytes(text), out var unix));
        Assert.Equal(expected, unix);
    }

    [Theory]
    [InlineData("")]
    [InlineData("170000000")] // 9 digits
    [InlineData("1700000000000")] // 13 digits
    [InlineData("170000000000000")] // 15 digits
    [InlineData("17000000a0")]
    [InlineData("-170000000")]
    [InlineData("+1700000000")]
    [InlineData(" 1700000000")]
    [InlineData("231314221320")] // month 13
    [InlineData("231100221320")] // day 0
    [InlineData("20230230000000")] // 30 February
    [InlineData("20230229000000")] // not a leap year
    [InlineData("231114241320")] // hour 24
    [InlineData("231114226000")] // minute 60
    [InlineData("231114221360")] // second 60
    [InlineData("00001114221320")] // year 0
    public void Anything_else_is_an_invalid_time(string text)
    {
        Assert.Equal(ValueError.InvalidTime, AlipTime.TryParse(Encoding.ASCII.GetBytes(text), out _));
        Assert.Equal("Invalid time", ValueErrors.Reason(ValueError.InvalidTime));
    }
}

public sealed class IdentificationTests
{
    [Theory]
    [InlineData("imei:35412345678", true)]
    [InlineData("abc:ABCD", true)]
    [InlineData("a1b2c3d:abcdefghij0123456789", true)]
    [InlineData("ab:1234", false)] // prefix too short
    [InlineData("abcdefgh:1234", false)] // prefix too long
    [InlineData("1mei:1234", false)]
    [InlineData("Imei:1234", false)]
    [InlineData("imEi:1234", false)]
    [InlineData("imei:123", false)]
    [InlineData("imei:abcdefghij01234567890", false)] // 21
    [InlineData("imei:12 34", false)]
    [InlineData("imei:1234:5", false)]
    [InlineData("imei-1234", false)]
    [InlineData("imei:1234\0", false)]
    [InlineData("imei:12é4", false)]
    [InlineData("", false)]
    public void Alip_ident_matches_the_spec_pattern(string ident, bool valid)
    {
        Assert.Equal(valid, Identification.IsValidAlip(Encoding.UTF8.GetBytes(ident)));
        Assert.Equal(valid, System.Text.RegularExpressions.Regex.IsMatch(ident, "^[a-z][0-9a-z]{2,6}:[a-zA-Z0-9]{4,20}$"));
    }

    [Fact]
    public void Alip_ident_agrees_with_the_regex_on_random_candidates()
    {
        var random = new Random(90);
        const string alphabet = "abz09AZ:-_ é";
        for (var i = 0; i < 20_000; i++)
        {
            var chars = new char[random.Next(0, 30)];
            for (var j = 0; j < chars.Length; j++)
            {
                chars[j] = alphabet[random.Next(alphabet.Length)];
            }

            var ident = new string(chars);
            Assert.Equal(
                System.Text.RegularExpressions.Regex.IsMatch(ident, "^[a-z][0-9a-z]{2,6}:[a-zA-Z0-9]{4,20}$"),
                Identification.IsValidAlip(Encoding.UTF8.GetBytes(ident)));
        }
    }

    [Theory]
    [InlineData("imei:1234", true)]
    [InlineData("Linux_1700000000_1804289383", true)]
    [InlineData("!", true)]
    [InlineData("~~", true)]
    [InlineData("", false)]
    [InlineData("a b", false)]
    [InlineData("a\tb", false)]
    [InlineData("a\u007f", false)]
    [InlineData("aé", false)]
    public void M2mp_ident_is_printable_ascii_without_spaces(string ident, bool valid)
    {
        Assert.Equal(valid, Identification.IsValidM2mp(Encoding.UTF8.GetBytes(ident)));
    }

    [Fact]
    public void M2mp_ident_is_at_most_255_bytes()
    {
        Assert.True(Identification.IsValidM2mp(Enumerable.Repeat((byte)'x', 255).ToArray()));
        Assert.False(Identification.IsValidM2mp(Enumerable.Repeat((byte)'x', 256).ToArray()));
    }
}

public sealed class HexTests
{
    [Fact]
    public void Hex_round_trips_every_byte()
    {
        var bytes = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        var hex = new byte[512];
        Assert.Equal(512, Hex.Encode(bytes, hex));
        Assert.Equal(Convert.ToHexStringLower(bytes), Encoding.ASCII.GetString(hex));
        var decoded = new byte[256];
        Assert.Equal(ValueError.None, Hex.TryDecode(hex, decoded, out var written));
        Assert.Equal(256, written);
        Assert.Equal(bytes, decoded);
    }

    [Theory]
    [InlineData("ABcd", ValueError.None)]
    [InlineData("", ValueError.None)]
    [InlineData("abc", ValueError.InvalidHex)]
    [InlineData("zz", ValueError.InvalidHex)]
    [InlineData("0g", ValueError.InvalidHex)]
    [InlineData("00 0", ValueError.InvalidHex)]
    public void Hex_decoding_refuses_odd_lengths_and_non_hex_characters(string text, ValueError error)
    {
        Assert.Equal(error, Hex.TryDecode(Encoding.ASCII.GetBytes(text), new byte[8], out _));
    }

    [Fact]
    public void Hex_decoding_refuses_a_destination_too_small()
    {
        Assert.Equal(ValueError.InvalidHex, Hex.TryDecode("0011"u8, new byte[1], out _));
    }
}

public sealed class JsonStringTests
{
    [Theory]
    [InlineData("21.5", "\"21.5\"")]
    [InlineData("", "\"\"")]
    [InlineData("a\"b\\c", "\"a\\\"b\\\\c\"")]
    [InlineData("l1\nl2\r\t", "\"l1\\nl2\\r\\t\"")]
    [InlineData("\0\u0001\u001f\u007f", "\"\\u0000\\u0001\\u001f\\u007f\"")]
    [InlineData("héllo €😀", "\"héllo €😀\"")]
    public void Content_becomes_an_escaped_json_string(string content, string json)
    {
        Assert.Equal(json, JsonString.FromUtf8(Encoding.UTF8.GetBytes(content)));
    }

    [Fact]
    public void Invalid_utf8_becomes_replacement_characters()
    {
        Assert.Equal("\"a\uFFFDb\uFFFD\"", JsonString.FromUtf8([0x61, 0xFF, 0x62, 0xE2, 0x82]));
    }

    [Fact]
    public void Random_bytes_give_json_that_parses_back_to_the_lossy_decoding()
    {
        var random = new Random(100);
        for (var i = 0; i < 5000; i++)
        {
            var bytes = new byte[random.Next(0, random.Next(2) == 0 ? 40 : 2000)];
            random.NextBytes(bytes);
            var json = JsonString.FromUtf8(bytes);
            Assert.Equal(Encoding.UTF8.GetString(bytes), JsonSerializer.Deserialize<string>(json));
        }
    }

    [Fact]
    public void Split_content_gives_the_same_json()
    {
        var bytes = Encoding.UTF8.GetBytes("héllo \"wörld\" €");
        var expected = JsonString.FromUtf8(bytes);
        foreach (var split in TestSequenceSegment.AllSplits(bytes))
        {
            Assert.Equal(expected, JsonString.FromUtf8(split));
        }
    }
}

public sealed class AlipDataTypeTests
{
    [Theory]
    [InlineData("L", AlipDataKind.Location, "sen:loc")]
    [InlineData("G", AlipDataKind.TimedLocation, "sen:loc")]
    [InlineData("A0", AlipDataKind.Text, "sen:adc:0")]
    [InlineData("A12", AlipDataKind.Text, "sen:adc:12")]
    [InlineData("A123", AlipDataKind.Text, "sen:adc:123")]
    [InlineData("A007", AlipDataKind.Text, "sen:adc:007")]
    [InlineData("DI3", AlipDataKind.Text, "sen:gpio:3")]
    [InlineData("T", AlipDataKind.Text, "sen:temp")]
    [InlineData("V", AlipDataKind.Text, "sen:volt")]
    [InlineData("D", AlipDataKind.Text, "sen:door")]
    [InlineData("F", AlipDataKind.Text, "sen:fuel")]
    [InlineData("E", AlipDataKind.Text, "sen:engine")]
    [InlineData("SMS", AlipDataKind.Text, "sen:sms_received")]
    [InlineData("VER", AlipDataKind.Text, "sen:version")]
    [InlineData("LS:door", AlipDataKind.ListedSensor, "lsen:door")]
    [InlineData("echo", AlipDataKind.Echo, null)]
    [InlineData("A", AlipDataKind.Text, "A")]
    [InlineData("Ax", AlipDataKind.Text, "Ax")]
    [InlineData("DI", AlipDataKind.Text, "DI")]
    [InlineData("can", AlipDataKind.Text, "can")]
    [InlineData("l", AlipDataKind.Text, "l")]
    [InlineData("ECHO", AlipDataKind.Text, "ECHO")]
    public void Alip_type_maps_to_the_stored_type(string type, AlipDataKind kind, string? stored)
    {
        var mapped = AlipDataType.Map(Encoding.ASCII.GetBytes(type));
        Assert.Equal(kind, mapped.Kind);
        Assert.Equal(stored, mapped.StoredType);
    }

    [Theory]
    [InlineData("L")]
    [InlineData("T")]
    [InlineData("SMS")]
    [InlineData("A5")]
    [InlineData("DI63")]
    public void Known_types_map_to_cached_strings(string type)
    {
        var bytes = Encoding.ASCII.GetBytes(type);
        Assert.Same(AlipDataType.Map(bytes).StoredType, AlipDataType.Map(bytes).StoredType);
    }
}
