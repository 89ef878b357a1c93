using System.Buffers;
using System.Diagnostics;
using M2M.Ingest.M2mp;

namespace M2M.Ingest.Tests;

/// <summary>Hostile M2MP input: every case gives the specified frame or <see cref="M2mpProtocolException"/>, nothing else.</summary>
public sealed class M2mpHostileInputTests
{
    [Theory]
    [InlineData("21 ff")]
    [InlineData("22 ff")]
    [InlineData("41 ff ff")]
    [InlineData("42 ff ff")]
    [InlineData("20 ff 00")]
    [InlineData("01 ff")]
    public void Size_at_the_width_maximum_within_the_cap_waits_for_the_body(string header)
    {
        var frames = M2mpTestReader.ReadAll(new M2mpReader(), new ReadOnlySequence<byte>(Bytes.FromHex(header)), out var consumed);
        Assert.Empty(frames);
        Assert.Equal(0, consumed);
    }

    [Theory]
    [InlineData("61 ff ff ff ff")]
    [InlineData("62 ff ff ff ff")]
    [InlineData("63 ff ff ff ff")]
    [InlineData("80 ff ff ff ff")]
    [InlineData("61 00 10 00 00")]
    public void Size_over_the_cap_is_refused_before_the_body_arrives(string header)
    {
        foreach (var split in TestSequenceSegment.AllSplits(Bytes.FromHex(header)))
        {
            Assert.Equal(M2mpError.FrameTooLarge, M2mpTestReader.ErrorOf(split));
        }
    }

    [Fact]
    public void A_frame_of_exactly_the_cap_is_accepted_and_one_byte_more_is_refused()
    {
        // 1 type + 4 size + SIZE = 1 MiB.
        var size = M2mpReader.DefaultMaxFrameSize - 5;
        var frame = new byte[M2mpReader.DefaultMaxFrameSize];
        frame[0] = 0x61;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)size);
        Assert.Single(M2mpTestReader.ReadAll(frame));

        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)size + 1);
        Assert.Equal(M2mpError.FrameTooLarge, M2mpTestReader.ErrorOf(new ReadOnlySequence<byte>(frame)));
    }

    [Theory]
    [InlineData("21 ff", 100)]
    [InlineData("41 00 62", 100)]
    [InlineData("01 ff", 200)]
    public void A_configured_smaller_cap_is_enforced(string header, int maxFrameSize)
    {
        Assert.Equal(M2mpError.FrameTooLarge, M2mpTestReader.ErrorOf(new ReadOnlySequence<byte>(Bytes.FromHex(header)), maxFrameSize: maxFrameSize));
    }

    public static TheoryData<byte> UnknownControlTypes()
    {
        var data = new TheoryData<byte> { 0x00 };
        for (var t = 0x04; t < 0x20; t++)
        {
            data.Add((byte)t);
        }

        for (var t = 0x81; t <= 0xFF; t++)
        {
            data.Add((byte)t);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(UnknownControlTypes))]
    public void Unknown_control_type_or_type_above_0x80_is_a_protocol_error(byte type)
    {
        Assert.Equal(M2mpError.UnknownFrameType, M2mpTestReader.ErrorOf(new ReadOnlySequence<byte>([type])));
        Assert.Equal(M2mpError.UnknownFrameType, M2mpTestReader.ErrorOf(new ReadOnlySequence<byte>([type, 0, 0, 0, 0, 0])));
    }

    [Theory]
    [InlineData("23 02 aa bb", 1)]
    [InlineData("40 00", 1)]
    [InlineData("43 00 01 cc", 2)]
    [InlineData("60 00 00", 2)]
    [InlineData("63 00 00 00 02 dd ee", 4)]
    [InlineData("80 00 00 00 00", 4)]
    public void Unknown_sized_type_is_skipped_by_its_size_and_counted(string hex, int width)
    {
        var data = Bytes.FromHex(hex + " 02 09");
        foreach (var split in TestSequenceSegment.AllSplits(data))
        {
            var reader = new M2mpReader();
            var sequenceReader = new SequenceReader<byte>(split);
            Assert.True(reader.TryRead(ref sequenceReader, out var skipped));
            Assert.Equal(M2mpFrameKind.Skipped, skipped.Kind);
            Assert.Equal(width, skipped.SizeWidth);
            Assert.Equal(1, reader.SkippedFrames);
            Assert.True(reader.TryRead(ref sequenceReader, out var ping));
            Assert.Equal(M2mpFrameKind.DevicePing, ping.Kind);
            Assert.Equal(9, ping.Value);
        }
    }

    [Theory]
    [InlineData("20 00")]
    [InlineData("21 00")]
    [InlineData("22 00")]
    [InlineData("41 00 00")]
    [InlineData("42 00 00")]
    [InlineData("61 00 00 00 00")]
    [InlineData("62 00 00 00 00")]
    public void Size_zero_leaves_no_room_for_the_channel_id_and_is_refused(string hex)
    {
        Assert.Equal(M2mpError.InvalidSize, M2mpTestReader.ErrorOf(new ReadOnlySequence<byte>(Bytes.FromHex(hex))));
    }

    [Theory]
    [InlineData("20 01 05", M2mpFrameKind.ChannelDefinition)]
    [InlineData("21 01 05", M2mpFrameKind.Data)]
    [InlineData("22 01 05", M2mpFrameKind.Array)]
    [InlineData("61 00 00 00 01 05", M2mpFrameKind.Data)]
    public void Zero_length_name_payload_or_array_is_a_valid_empty_frame(string hex, M2mpFrameKind kind)
    {
        var sequenceReader = new SequenceReader<byte>(new ReadOnlySequence<byte>(Bytes.FromHex(hex)));
        Assert.True(new M2mpReader().TryRead(ref sequenceReader, out var frame));
        Assert.Equal(kind, frame.Kind);
        Assert.Equal(5, frame.Channel);
        Assert.True(frame.Payload.IsEmpty);
        Assert.Equal(0, frame.ItemCount);
    }

    [Fact]
    public void Items_of_a_non_array_frame_are_empty()
    {
        var sequenceReader = new SequenceReader<byte>(new ReadOnlySequence<byte>(Bytes.FromHex("21 04 00 05 61 62")));
        Assert.True(new M2mpReader().TryRead(ref sequenceReader, out var frame));
        Assert.Equal(M2mpFrameKind.Data, frame.Kind);
        Assert.False(frame.GetItems().MoveNext());
    }

    [Fact]
    public void Zero_length_identification_is_read_and_fails_the_ident_check()
    {
        var sequenceReader = new SequenceReader<byte>(new ReadOnlySequence<byte>(Bytes.FromHex("01 00")));
        Assert.True(new M2mpReader().TryRead(ref sequenceReader, out var frame));
        Assert.Equal(M2mpFrameKind.Identification, frame.Kind);
        Assert.True(frame.Payload.IsEmpty);
        Assert.False(Values.Identification.IsValidM2mp(frame.Payload.FirstSpan));
    }

    [Theory]
    [InlineData("22 03 00 05 61")] // item of 5 with 1 byte left
    [InlineData("22 04 00 01 61 01")] // a second ILEN with no byte left for its item
    [InlineData("22 02 00 ff")] // ILEN at the width maximum
    [InlineData("42 00 02 00 ff")] // 2-byte ILEN cut in half
    [InlineData("42 00 03 00 ff ff")] // 2-byte ILEN at its maximum
    [InlineData("62 00 00 00 05 00 ff ff ff ff")] // 4-byte ILEN at its maximum
    [InlineData("62 00 00 00 03 00 00 00")] // 4-byte ILEN cut
    public void Array_item_running_past_its_frame_is_a_protocol_error_for_every_split(string hex)
    {
        var data = Bytes.FromHex(hex);
        foreach (var split in TestSequenceSegment.AllSplits(data))
        {
            Assert.Equal(M2mpError.ArrayItemOutOfBounds, M2mpTestReader.ErrorOf(split));
        }

        for (var length = 0; length < data.Length; length++)
        {
            Assert.Null(M2mpTestReader.ErrorOf(new ReadOnlySequence<byte>(data, 0, length)));
        }
    }

    [Fact]
    public void Array_item_reading_stays_inside_the_frame_when_more_bytes_follow()
    {
        // The ILEN 5 would fit in the following bytes, but not in the frame.
        var data = Bytes.FromHex("22 03 00 05 61 62 63 64 65 66");
        Assert.Equal(M2mpError.ArrayItemOutOfBounds, M2mpTestReader.ErrorOf(new ReadOnlySequence<byte>(data)));
    }

    [Fact]
    public void One_MiB_frame_delivered_one_byte_at_a_time_completes_without_rescanning()
    {
        const int frameLength = M2mpReader.DefaultMaxFrameSize;
        var data = new byte[frameLength];
        data[0] = 0x62;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(1), frameLength - 5);
        data[5] = 3;

        // 4-byte ILEN items of 1000 bytes, then one item with the rest: the array walk is part of the cost.
        var o = 6;
        var items = 0;
        while (o < frameLength)
        {
            var item = Math.Min(1000, frameLength - o - 4);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(o), (uint)item);
            o += 4 + item;
            items++;
        }

        // A pipe with 4 KiB segments; after each byte the reader sees everything received so far.
        var segments = new List<TestSequenceSegment> { new(data.AsMemory(0, 4096)) };
        for (var start = 4096; start < frameLength; start += 4096)
        {
            segments.Add(segments[^1].Append(data.AsMemory(start, Math.Min(4096, frameLength - start))));
        }

        var reader = new M2mpReader();
        var stopwatch = Stopwatch.StartNew();
        var calls = 0;
        for (var received = 1; received <= frameLength; received++)
        {
            var last = segments[(received - 1) / 4096];
            var input = new ReadOnlySequence<byte>(segments[0], 0, last, received - (int)last.RunningIndex);
            var sequenceReader = new SequenceReader<byte>(input);
            calls++;
            if (reader.TryRead(ref sequenceReader, out var frame))
            {
                Assert.Equal(frameLength, received);
                Assert.Equal(items, frame.ItemCount);
                Assert.Equal(frameLength, sequenceReader.Consumed);
            }
            else
            {
                Assert.NotEqual(frameLength, received);
                Assert.Equal(0, sequenceReader.Consumed);
            }
        }

        Assert.Equal(frameLength, calls);

        // A re-scan of the received bytes on every call would be ~5 * 10^11 byte reads (far beyond this bound, even
        // on a loaded machine); header-only checks take a few seconds at most in a debug build.
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(60), $"1 MiB byte by byte took {stopwatch.Elapsed}.");
    }

    [Fact]
    public void Random_garbage_raises_only_the_protocol_exception()
    {
        var random = new Random(50);
        var errors = new HashSet<M2mpError>();
        for (var i = 0; i < 20_000; i++)
        {
            var data = new byte[random.Next(1, 64)];
            random.NextBytes(data);

            // Bias towards known types so that more than the type check is exercised.
            data[0] = (byte)(random.Next(2) == 0 ? data[0] : new byte[] { 0x01, 0x02, 0x20, 0x21, 0x22, 0x41, 0x42, 0x62 }[random.Next(8)]);
            var whole = M2mpTestReader.ErrorOf(new ReadOnlySequence<byte>(data));
            var split = M2mpTestReader.ErrorOf(TestSequenceSegment.RandomSplit(data, random, 3));
            Assert.Equal(whole, split);
            if (whole is { } error)
            {
                errors.Add(error);
            }
        }

        Assert.Contains(M2mpError.UnknownFrameType, errors);
        Assert.Contains(M2mpError.ArrayItemOutOfBounds, errors);
    }
}
