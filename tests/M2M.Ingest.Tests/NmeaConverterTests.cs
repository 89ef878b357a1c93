using System.Text;
using M2M.Ingest.Converters;

namespace M2M.Ingest.Tests;

public sealed class NmeaConverterTests
{
    // Checksums computed independently (XOR of the bytes between '$' and '*').
    private const string Rmc = "$GPRMC,123519.00,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*44";
    private const string Gga = "$GPGGA,123519.00,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*69";
    private const string SouthWest = "$GNRMC,235959.50,A,3352.1280,S,15112.5600,W,0.0,0.0,311225,,,A*44";
    private const string GgaAfterMidnight = "$GPGGA,000010.00,4852.0000,N,00221.0000,E,1,05,1.1,35.0,M,0.0,M,,*64";
    private const string VoidRmc = "$GPRMC,123520.00,V,,,,,,,230394,,,N*75";
    private const string Gsv = "$GPGSV,3,1,11,03,03,111,00,04,15,270,00,06,01,010,00,13,06,292,00*74";

    private static readonly DateTimeOffset FrameTime = new(2026, 1, 14, 23, 59, 50, TimeSpan.Zero);

    private static IReadOnlyList<ConvertedRecord> Convert(string payload) => NmeaConverter.Convert(Encoding.ASCII.GetBytes(payload), FrameTime);

    [Fact]
    public void Rmc_and_gga_of_one_fix_make_one_location_dated_by_the_rmc()
    {
        var record = Assert.Single(Convert(Rmc + "\r\n" + Gga + "\r\n"));

        Assert.Equal("sen:loc", record.Type);
        Assert.Equal(new DateTimeOffset(1994, 3, 23, 12, 35, 19, TimeSpan.Zero), record.Time);
        // 48°07.038' N, 11°31.000' E, 22.4 knots = 41.48 km/h, 545.4 m.
        Assert.Equal("""{"lat":48.1173,"lon":11.5166667,"spd":41.48,"alt":545.4}""", record.Data);
    }

    [Fact]
    public void The_order_of_the_sentences_and_the_separators_do_not_matter()
    {
        var expected = Convert(Rmc + "\r\n" + Gga);

        Assert.Equal(expected, Convert(Gga + "\n" + Rmc));
        Assert.Equal(expected, Convert(Gga + Rmc));
        Assert.Equal(expected, Convert("noise " + Rmc + "\r\n\r\n" + Gsv + "\r\n" + Gga + "\r\n"));
    }

    [Fact]
    public void Southern_and_western_hemispheres_are_negative_and_fractional_seconds_are_kept()
    {
        var record = Assert.Single(Convert(SouthWest));

        Assert.Equal(new DateTimeOffset(2025, 12, 31, 23, 59, 59, 500, TimeSpan.Zero), record.Time);
        Assert.Equal("""{"lat":-33.8688,"lon":-151.2093333,"spd":0}""", record.Data);
    }

    [Fact]
    public void A_gga_alone_takes_the_nearest_day_of_the_frame_time()
    {
        // Received at 23:59:50 on 14 January, a fix of 00:00:10 is of 15 January.
        var record = Assert.Single(Convert(GgaAfterMidnight));

        Assert.Equal(new DateTimeOffset(2026, 1, 15, 0, 0, 10, TimeSpan.Zero), record.Time);
        Assert.Equal("""{"lat":48.8666667,"lon":2.35,"alt":35}""", record.Data);
    }

    [Fact]
    public void Several_fixes_in_one_frame_make_several_records()
    {
        var records = Convert(Rmc + "\r\n" + SouthWest + "\r\n" + GgaAfterMidnight);

        Assert.Equal(3, records.Count);
        Assert.Equal([new DateTimeOffset(1994, 3, 23, 12, 35, 19, TimeSpan.Zero), new DateTimeOffset(2025, 12, 31, 23, 59, 59, 500, TimeSpan.Zero), new DateTimeOffset(2026, 1, 15, 0, 0, 10, TimeSpan.Zero)],
            records.Select(r => r.Time));
    }

    [Fact]
    public void Fixes_marked_invalid_and_sentences_without_a_fix_give_no_record_and_no_error()
    {
        Assert.Empty(Convert(VoidRmc));
        Assert.Empty(Convert(Gsv));
        Assert.Empty(Convert("$GPGGA,123519.00,,,,,0,00,,,M,,M,,*45"));
    }

    [Theory]
    [InlineData("$GPRMC,123519.00,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*45", "wrong checksum")]
    [InlineData("$GPRMC,123519.00,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W", "missing checksum")]
    [InlineData("$GPRMC,123519.00,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*4", "missing checksum")]
    [InlineData("$GPRMC,123519.00,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*ZZ", "malformed checksum")]
    [InlineData("hello, world", "none starts with '$'")]
    [InlineData("", "none starts with '$'")]
    public void A_frame_without_any_valid_sentence_is_refused_with_the_reason(string payload, string reason)
    {
        var error = Assert.Throws<ChannelConversionException>(() => Convert(payload));

        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_sentences_are_skipped_and_the_good_ones_of_the_frame_kept()
    {
        var corrupted = Rmc.Replace("4807.038", "4807.039", StringComparison.Ordinal); // checksum no longer matches
        var record = Assert.Single(Convert(corrupted + "\r\n" + SouthWest));

        Assert.Equal(new DateTimeOffset(2025, 12, 31, 23, 59, 59, 500, TimeSpan.Zero), record.Time);
    }

    [Theory]
    [InlineData("GPRMC,123519.00,A,9107.038,N,01131.000,E,022.4,084.4,230394,003.1,W")] // latitude 91
    [InlineData("GPRMC,123519.00,A,4807.038,X,01131.000,E,022.4,084.4,230394,003.1,W")] // hemisphere
    [InlineData("GPRMC,123519.00,A,4867.038,N,01131.000,E,022.4,084.4,230394,003.1,W")] // 67 minutes
    [InlineData("GPRMC,253519.00,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W")] // hour 25
    [InlineData("GPRMC,123519.00,A,4807.038,N,01131.000,E,022.4,084.4,310294,003.1,W")] // 31 February
    [InlineData("GPRMC,123519.00,A,4807.038,N,01131.000,E,-22.4,084.4,230394,003.1,W")] // negative speed
    [InlineData("GPRMC,123519.00,A,4807.038,N,01131.000,E,NaN,084.4,230394,003.1,W")]
    [InlineData("GPRMC,123519.00,A,4807.038,N,01131.000,E")] // cut short
    [InlineData("GPGGA,123519.00,4807.038,N,01131.000,E,x,08,0.9,545.4,M,46.9,M,,")]
    public void Sentences_with_impossible_fields_are_refused(string body)
    {
        var sentence = "$" + body + "*" + Checksum(body);

        Assert.Throws<ChannelConversionException>(() => Convert(sentence));
    }

    [Fact]
    public void Hostile_input_is_refused_without_reading_past_the_frame()
    {
        var random = new Random(42);
        for (var i = 0; i < 2000; i++)
        {
            var bytes = new byte[random.Next(0, 200)];
            random.NextBytes(bytes);
            if (bytes.Length > 0)
            {
                bytes[0] = (byte)'$';
            }
            try
            {
                NmeaConverter.Convert(bytes, FrameTime);
            }
            catch (ChannelConversionException)
            {
            }
        }
        var tooLong = "$GPRMC," + new string('1', NmeaConverter.MaxSentenceLength) + "*00";
        Assert.Contains("too long", Assert.Throws<ChannelConversionException>(() => Convert(tooLong)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_converter_serves_topic_nmea_and_reads_the_frame_payload()
    {
        var converter = new NmeaConverter();
        var input = new ConverterInput(Guid.NewGuid(), "imei:1", "gps", FrameTime, Encoding.ASCII.GetBytes(Rmc), "\"\"");

        var records = await converter.ConvertAsync(input, TestContext.Current.CancellationToken);

        Assert.Equal("nmea", converter.Topic);
        Assert.Equal("sen:loc", Assert.Single(records).Type);
    }

    private static string Checksum(string body)
    {
        byte sum = 0;
        foreach (var c in body)
        {
            sum ^= (byte)c;
        }
        return sum.ToString("X2", System.Globalization.CultureInfo.InvariantCulture);
    }
}
