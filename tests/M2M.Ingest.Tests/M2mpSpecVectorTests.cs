using System.Buffers;
using System.Text;
using M2M.Ingest.M2mp;
using M2M.Ingest.Values;

namespace M2M.Ingest.Tests;

/// <summary>The test vectors of spec/m2mp.md, decoded and encoded, whole and split every way.</summary>
public sealed class M2mpSpecVectorTests
{
    public static TheoryData<string, M2mpSender> Vectors => new()
    {
        { "01 09 69 6d 65 69 3a 31 32 33 34", M2mpSender.Device },
        { "01 01", M2mpSender.Server },
        { "01 00", M2mpSender.Server },
        { "02 07", M2mpSender.Device },
        { "02 07", M2mpSender.Server },
        { "20 08 00 73 65 6e 3a 6c 6f 63", M2mpSender.Device },
        { "21 11 00 65 53 f1 00 42 43 66 66 40 16 66 66 00 2a 00 23", M2mpSender.Device },
        { "22 09 01 01 67 05 63 61 70 3d 78", M2mpSender.Device },
        { "22 12 00 02 73 67 0d 67 70 73 5f 70 65 72 69 6f 64 3d 31 35", M2mpSender.Server },
        { "42 00 0d 02 00 04 65 53 f1 00 00 04 32 31 2e 35", M2mpSender.Device },
    };

    [Fact]
    public void Identification_vector_decodes_to_the_ident()
    {
        var frame = ReadSingle("01 09 69 6d 65 69 3a 31 32 33 34", M2mpSender.Device, out var _);
        Assert.Equal(M2mpFrameKind.Identification, frame.Kind);
        Assert.Equal("imei:1234", Encoding.ASCII.GetString(frame.Payload.ToArray()));
        Assert.True(Identification.IsValidM2mp(frame.Payload.FirstSpan));
    }

    [Theory]
    [InlineData("01 01", 1)]
    [InlineData("01 00", 0)]
    public void Identification_result_vector_decodes_from_the_server(string hex, byte ok)
    {
        var frame = ReadSingle(hex, M2mpSender.Server, out _);
        Assert.Equal(M2mpFrameKind.IdentificationResult, frame.Kind);
        Assert.Equal(ok, frame.Value);
    }

    [Fact]
    public void Ping_vector_decodes_with_its_number()
    {
        var frame = ReadSingle("02 07", M2mpSender.Device, out _);
        Assert.Equal(M2mpFrameKind.DevicePing, frame.Kind);
        Assert.Equal(7, frame.Value);
    }

    [Fact]
    public void Channel_definition_vector_decodes_to_id_and_name()
    {
        var frame = ReadSingle("20 08 00 73 65 6e 3a 6c 6f 63", M2mpSender.Device, out _);
        Assert.Equal(M2mpFrameKind.ChannelDefinition, frame.Kind);
        Assert.Equal(0, frame.Channel);
        var channels = new M2mpReceiveChannels();
        Assert.Equal("sen:loc", channels.Define(frame));
        Assert.Equal("sen:loc", channels.GetName(0));
    }

    [Fact]
    public void Location_data_vector_decodes_to_the_spec_values()
    {
        var frame = ReadSingle("21 11 00 65 53 f1 00 42 43 66 66 40 16 66 66 00 2a 00 23", M2mpSender.Device, out _);
        Assert.Equal(M2mpFrameKind.Data, frame.Kind);
        Assert.Equal(0, frame.Channel);
        Assert.Equal(ValueError.None, Location.TryDecodeM2mp(frame.Payload, out var location));
        Assert.Equal(1700000000, location.Time);
        Assert.Equal(DateTimeOffset.Parse("2023-11-14T22:13:20Z", System.Globalization.CultureInfo.InvariantCulture), DateTimeOffset.FromUnixTimeSeconds(location.Time!.Value));
        Assert.Equal(48.85, location.Latitude);
        Assert.Equal(2.35, location.Longitude);
        Assert.Equal(42, location.Speed);
        Assert.Equal(35, location.Altitude);
        Assert.Equal("""{"lat":48.85,"lon":2.35,"spd":42,"alt":35}""", location.ToJson());
    }

    [Fact]
    public void Array_vector_decodes_to_its_items()
    {
        var frame = ReadSingle("22 09 01 01 67 05 63 61 70 3d 78", M2mpSender.Device, out _);
        Assert.Equal(M2mpFrameKind.Array, frame.Kind);
        Assert.Equal(1, frame.Channel);
        Assert.Equal(["g", "cap=x"], Items(frame));
    }

    [Fact]
    public void Settings_array_vector_decodes_from_the_server()
    {
        var frame = ReadSingle("22 12 00 02 73 67 0d 67 70 73 5f 70 65 72 69 6f 64 3d 31 35", M2mpSender.Server, out _);
        Assert.Equal(0, frame.Channel);
        Assert.Equal(["sg", "gps_period=15"], Items(frame));
    }

    [Fact]
    public void Two_byte_array_vector_decodes_to_time_and_value()
    {
        var frame = ReadSingle("42 00 0d 02 00 04 65 53 f1 00 00 04 32 31 2e 35", M2mpSender.Device, out _);
        Assert.Equal(M2mpFrameKind.Array, frame.Kind);
        Assert.Equal(2, frame.SizeWidth);
        Assert.Equal(2, frame.Channel);
        var items = frame.GetItems();
        Assert.True(items.MoveNext());
        Assert.True(items.Current.TryReadUInt32BigEndian(out var time));
        Assert.Equal(1700000000u, time);
        Assert.True(items.MoveNext());
        Assert.Equal("21.5", Encoding.ASCII.GetString(items.Current.ToArray()));
        Assert.False(items.MoveNext());
    }

    [Fact]
    public void Writer_encodes_every_vector()
    {
        Assert.Equal("01 09 69 6d 65 69 3a 31 32 33 34", Write(w => M2mpWriter.WriteIdentification(w, "imei:1234"u8)));
        Assert.Equal("01 01", Write(w => M2mpWriter.WriteIdentificationResult(w, true)));
        Assert.Equal("01 00", Write(w => M2mpWriter.WriteIdentificationResult(w, false)));
        Assert.Equal("02 07", Write(w => M2mpWriter.WriteDevicePing(w, 7)));
        Assert.Equal("03 07", Write(w => M2mpWriter.WriteServerPing(w, 7)));
        Assert.Equal("20 08 00 73 65 6e 3a 6c 6f 63", Write(w => M2mpWriter.WriteChannelDefinition(w, 0, "sen:loc")));
        var location = new Location { Time = 1700000000, HasPosition = true, Latitude = 48.85, Longitude = 2.35, Speed = 42, Altitude = 35 };
        Assert.Equal("21 11 00 65 53 f1 00 42 43 66 66 40 16 66 66 00 2a 00 23", Write(w =>
        {
            Span<byte> payload = stackalloc byte[16];
            M2mpWriter.WriteData(w, 0, payload[..location.EncodeM2mp(payload)]);
        }));
        Assert.Equal("22 09 01 01 67 05 63 61 70 3d 78", Write(w => M2mpWriter.WriteArray(w, 1, ["g", "cap=x"])));
        Assert.Equal("22 12 00 02 73 67 0d 67 70 73 5f 70 65 72 69 6f 64 3d 31 35", Write(w => M2mpWriter.WriteArray(w, 0, ["sg", "gps_period=15"])));
        Assert.Equal("42 00 0d 02 00 04 65 53 f1 00 00 04 32 31 2e 35", Write(w =>
            M2mpWriter.WriteArray(w, 2, [Bytes.FromHex("6553f100"), "21.5"u8.ToArray()], sizeWidth: 2)));
    }

    [Theory]
    [MemberData(nameof(Vectors))]
    public void Every_split_of_a_vector_gives_the_same_frame(string hex, M2mpSender sender)
    {
        var data = Bytes.FromHex(hex);
        var expected = M2mpTestReader.ReadAll(data, sender);
        Assert.Single(expected);
        foreach (var split in TestSequenceSegment.AllSplits(data))
        {
            var frames = M2mpTestReader.ReadAll(new M2mpReader(sender), split, out var consumed);
            Assert.Equal(expected, frames);
            Assert.Equal(data.Length, consumed);
        }
    }

    [Theory]
    [MemberData(nameof(Vectors))]
    public void Every_truncated_prefix_of_a_vector_needs_more(string hex, M2mpSender sender)
    {
        var data = Bytes.FromHex(hex);
        for (var length = 0; length < data.Length; length++)
        {
            var prefix = data[..length];
            foreach (var split in TestSequenceSegment.AllSplits(prefix))
            {
                var frames = M2mpTestReader.ReadAll(new M2mpReader(sender), split, out var consumed);
                Assert.Empty(frames);
                Assert.Equal(0, consumed);
            }
        }
    }

    [Fact]
    public void All_vectors_in_one_stream_split_every_way_give_the_same_frames()
    {
        var stream = Bytes.FromHex(string.Join(" ", Vectors
            .Select(row => row.Data)
            .Where(v => v.Item2 == M2mpSender.Device)
            .Select(v => v.Item1)));
        var expected = M2mpTestReader.ReadAll(stream);
        Assert.Equal(6, expected.Count);
        foreach (var split in TestSequenceSegment.AllSplits(stream))
        {
            Assert.Equal(expected, M2mpTestReader.ReadAll(split));
        }
    }

    [Fact]
    public void Bedrock_shape_moves_examined_to_the_end_when_it_needs_more()
    {
        var data = Bytes.FromHex("21 11 00 65 53 f1 00 42 43");
        var input = new ReadOnlySequence<byte>(data);
        var reader = new M2mpReader();
        var consumed = input.Start;
        var examined = input.Start;
        Assert.False(reader.TryParseMessage(input, ref consumed, ref examined, out _));
        Assert.Equal(input.Start, consumed);
        Assert.Equal(input.End, examined);

        var whole = new ReadOnlySequence<byte>(Bytes.FromHex("02 07 02 08"));
        Assert.True(reader.TryParseMessage(whole, ref consumed, ref examined, out var frame));
        Assert.Equal(7, frame.Value);
        Assert.Equal(whole.GetPosition(2), consumed);
        Assert.Equal(consumed, examined);
    }

    private static M2mpFrame ReadSingle(string hex, M2mpSender sender, out long consumed)
    {
        var data = Bytes.FromHex(hex);
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(data));
        Assert.True(new M2mpReader(sender).TryRead(ref reader, out var frame));
        consumed = reader.Consumed;
        Assert.Equal(data.Length, consumed);
        return frame;
    }

    private static List<string> Items(in M2mpFrame frame)
    {
        var items = new List<string>();
        foreach (var item in frame.GetItems())
        {
            items.Add(Encoding.UTF8.GetString(item.ToArray()));
        }

        return items;
    }

    private static string Write(Action<ArrayBufferWriter<byte>> write)
    {
        var output = new ArrayBufferWriter<byte>();
        write(output);
        return Convert.ToHexStringLower(output.WrittenSpan).Chunk(2).Select(c => new string(c)).Aggregate((a, b) => a + " " + b);
    }
}
