using System.Buffers;
using System.Text;
using M2M.Ingest.M2mp;

namespace M2M.Ingest.Tests;

public sealed class M2mpChannelTests
{
    [Fact]
    public void Undefined_channel_is_named_after_its_id_with_a_cached_string()
    {
        var channels = new M2mpReceiveChannels();
        Assert.Equal("__channel_7", channels.GetName(7));
        Assert.Equal("__channel_255", channels.GetName(255));
        Assert.Same(channels.GetName(7), new M2mpReceiveChannels().GetName(7));
    }

    [Fact]
    public void Redefinition_with_the_same_bytes_reuses_the_string()
    {
        var channels = new M2mpReceiveChannels();
        var first = channels.Define(3, "sen:temp"u8);
        var again = channels.Define(3, "sen:temp"u8);
        Assert.Same(first, again);

        // The same name on another id, and back after a different name, is the same string too.
        Assert.Same(first, channels.Define(4, "sen:temp"u8));
        channels.Define(3, "other"u8);
        Assert.Same(first, channels.Define(3, "sen:temp"u8));
    }

    [Fact]
    public void Channels_defined_far_apart_keep_their_names_and_the_ids_between_stay_undefined()
    {
        var channels = new M2mpReceiveChannels();
        channels.Define(1, "low"u8);
        channels.Define(255, "top"u8);
        channels.Define(9, "middle"u8);

        Assert.Equal("low", channels.GetName(1));
        Assert.Equal("middle", channels.GetName(9));
        Assert.Equal("top", channels.GetName(255));
        Assert.Equal("__channel_0", channels.GetName(0));
        Assert.Equal("__channel_10", channels.GetName(10));
        Assert.Equal("__channel_254", channels.GetName(254));
    }

    [Fact]
    public void Redefinition_replaces_the_previous_name()
    {
        var channels = new M2mpReceiveChannels();
        channels.Define(0, "a"u8);
        channels.Define(0, "b"u8);
        Assert.Equal("b", channels.GetName(0));
    }

    [Fact]
    public void Name_split_across_segments_is_defined_like_a_contiguous_one()
    {
        var channels = new M2mpReceiveChannels();
        var name = "sen:loc"u8.ToArray();
        var contiguous = channels.Define(1, name);
        foreach (var split in TestSequenceSegment.AllSplits(name))
        {
            Assert.Same(contiguous, channels.Define(2, split));
        }
    }

    [Fact]
    public void Invalid_utf8_name_becomes_replacement_characters()
    {
        var channels = new M2mpReceiveChannels();
        Assert.Equal("a\uFFFDb", channels.Define(0, [0x61, 0xFF, 0x62]));
    }

    [Fact]
    public void Name_longer_than_a_definition_frame_can_carry_is_refused()
    {
        var channels = new M2mpReceiveChannels();
        Assert.Throws<ArgumentOutOfRangeException>(() => channels.Define(0, new byte[255]));
        Assert.Equal(254, channels.Define(0, Enumerable.Repeat((byte)'n', 254).ToArray()).Length);
    }

    [Fact]
    public void Many_distinct_names_keep_working_once_the_shared_pool_is_full()
    {
        var pool = new M2mpChannelNamePool(100);
        var channels = new M2mpReceiveChannels(pool);
        for (var i = 0; i < 5000; i++)
        {
            var name = Encoding.ASCII.GetBytes($"n{i}");
            Assert.Equal($"n{i}", channels.Define((byte)i, name));
        }

        Assert.Equal("n4999", channels.GetName(4999 & 0xFF));
        Assert.Equal(100, pool.Count);
    }

    [Fact]
    public void Connections_that_define_the_same_name_share_one_string()
    {
        var pool = new M2mpChannelNamePool(100);
        var first = new M2mpReceiveChannels(pool).Define(3, "sen:loc"u8);
        var second = new M2mpReceiveChannels(pool).Define(7, "sen:loc"u8);
        Assert.Equal("sen:loc", first);
        Assert.Same(first, second);
        Assert.Equal(1, pool.Count);
    }

    [Fact]
    public void A_full_pool_still_gives_every_name_its_own_correct_string()
    {
        var pool = new M2mpChannelNamePool(1);
        Assert.Equal("a", new M2mpReceiveChannels(pool).Define(0, "a"u8));
        var b1 = new M2mpReceiveChannels(pool).Define(0, "b"u8);
        var b2 = new M2mpReceiveChannels(pool).Define(0, "b"u8);
        Assert.Equal("b", b1);
        Assert.Equal("b", b2);
        Assert.NotSame(b1, b2);
        Assert.Same(pool.Get("a"), new M2mpReceiveChannels(pool).Define(1, "a"u8));
    }

    [Fact]
    public async Task Connections_defining_names_at_once_get_one_string_per_name()
    {
        var pool = new M2mpChannelNamePool(1000);
        var names = Enumerable.Range(0, 50).Select(i => Encoding.ASCII.GetBytes($"c{i}")).ToArray();
        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() =>
        {
            var channels = new M2mpReceiveChannels(pool);
            return names.Select((n, i) => channels.Define((byte)i, n)).ToArray();
        }, TestContext.Current.CancellationToken)));
        for (var i = 0; i < names.Length; i++)
        {
            Assert.All(results, r => Assert.Same(results[0][i], r[i]));
        }

        Assert.Equal(names.Length, pool.Count);
    }

    [Fact]
    public void Send_table_defines_a_name_before_its_first_use_only()
    {
        var channels = new M2mpSendChannels();
        var output = new ArrayBufferWriter<byte>();
        channels.WriteData(output, "echo", "hi"u8);
        channels.WriteData(output, "echo", "ho"u8);
        channels.WriteArray(output, "_set", ["ga"]);
        Assert.Equal(
            Bytes.FromHex("20 05 00 65 63 68 6f  21 03 00 68 69  21 03 00 68 6f  20 05 01 5f 73 65 74  22 04 01 02 67 61"),
            output.WrittenSpan.ToArray());
    }

    [Fact]
    public void Send_table_recycles_ids_from_zero_when_all_256_are_used()
    {
        var channels = new M2mpSendChannels();
        var output = new ArrayBufferWriter<byte>();
        for (var i = 0; i < 256; i++)
        {
            Assert.Equal(i, channels.GetOrDefine(output, $"c{i}"));
        }

        output.Clear();
        Assert.Equal(0, channels.GetOrDefine(output, "new"));
        Assert.Equal(Bytes.FromHex("20 04 00 6e 65 77"), output.WrittenSpan.ToArray());

        // c0 lost its id: using it again defines it anew, on the next id.
        output.Clear();
        Assert.Equal(1, channels.GetOrDefine(output, "c0"));
        Assert.Equal(Bytes.FromHex("20 03 01 63 30"), output.WrittenSpan.ToArray());
        Assert.Equal(2, channels.GetOrDefine(output, "c1"));
    }

    [Fact]
    public void Send_table_frames_read_back_through_a_receive_table()
    {
        var send = new M2mpSendChannels();
        var output = new ArrayBufferWriter<byte>();
        for (var i = 0; i < 300; i++)
        {
            send.WriteData(output, $"ch{i % 270}", Encoding.ASCII.GetBytes($"v{i}"));
        }

        var receive = new M2mpReceiveChannels();
        var reader = new M2mpReader(M2mpSender.Server);
        var sequenceReader = new SequenceReader<byte>(new ReadOnlySequence<byte>(output.WrittenMemory));
        var i2 = 0;
        while (reader.TryRead(ref sequenceReader, out var frame))
        {
            if (frame.Kind == M2mpFrameKind.ChannelDefinition)
            {
                receive.Define(frame);
                continue;
            }

            Assert.Equal($"ch{i2 % 270}", receive.GetName(frame.Channel));
            Assert.Equal($"v{i2}", Encoding.ASCII.GetString(frame.Payload.ToArray()));
            i2++;
        }

        Assert.Equal(300, i2);
    }
}
