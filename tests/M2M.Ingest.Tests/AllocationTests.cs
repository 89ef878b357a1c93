using System.Buffers;
using System.Text;
using M2M.Ingest.Alip;
using M2M.Ingest.M2mp;
using M2M.Ingest.Values;

namespace M2M.Ingest.Tests;

/// <summary>The hot paths allocate nothing per frame or line (measured on this thread in the steady state).</summary>
public sealed class AllocationTests
{
    /// <summary>
    /// Bytes allocated by <paramref name="action"/> on this thread: the least of a few runs after a warm-up, because the
    /// first runs after tiered JIT promotion can show one-off runtime allocations that are not the code's own.
    /// </summary>
    private static long AllocatedBy(Action action)
    {
        action();
        var least = long.MaxValue;
        for (var i = 0; i < 5 && least > 0; i++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            action();
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        return least;
    }

    [Fact]
    public void Reading_m2mp_frames_and_their_items_allocates_nothing()
    {
        var (_, bytes) = M2mpRandomFrames.Generate(new Random(110), 300, includeLarge: false);
        var single = new ReadOnlySequence<byte>(bytes);
        var segmented = TestSequenceSegment.RandomSplit(bytes, new Random(111), 200);
        var reader = new M2mpReader();
        var channels = new M2mpReceiveChannels();

        long Run(ReadOnlySequence<byte> input)
        {
            long sum = 0;
            var sequenceReader = new SequenceReader<byte>(input);
            while (reader.TryRead(ref sequenceReader, out var frame))
            {
                switch (frame.Kind)
                {
                    case M2mpFrameKind.Array:
                        foreach (var item in frame.GetItems())
                        {
                            sum += item.Length;
                        }

                        break;
                    case M2mpFrameKind.Data:
                        sum += channels.GetName(frame.Channel).Length + frame.Payload.Length;
                        break;
                }
            }

            return sum;
        }

        var expected = Run(single);
        Assert.Equal(expected, Run(segmented));
        Assert.Equal(0, AllocatedBy(() => Run(single)));
        Assert.Equal(0, AllocatedBy(() => Run(segmented)));
    }

    [Fact]
    public void Reading_and_decoding_alip_lines_of_known_types_allocates_nothing()
    {
        var text = new StringBuilder();
        for (var i = 0; i < 200; i++)
        {
            text.Append("D L 48.85661,2.35222,42,35\nE 1700000000 T 21.5\r\nJ 20231114221320 A3 {\"v\":1}\nS S gps_period 60\n");
        }

        var bytes = Encoding.ASCII.GetBytes(text.ToString());
        var single = new ReadOnlySequence<byte>(bytes);
        var segmented = TestSequenceSegment.RandomSplit(bytes, new Random(112), 300);
        var reader = new AlipLineReader();

        long Run(ReadOnlySequence<byte> input)
        {
            long sum = 0;
            var sequenceReader = new SequenceReader<byte>(input);
            while (reader.TryRead(ref sequenceReader, out var line))
            {
                var tokens = line.GetTokens();
                if (line.Command is AlipCommand.E or AlipCommand.J && tokens.TryNext(out var time))
                {
                    // No assertion inside the measured loop: the assertion library allocates.
                    sum += AlipTime.TryParse(time, out var unix) == ValueError.None ? unix : -1_000_000;
                }

                if (line.Command is AlipCommand.D or AlipCommand.E or AlipCommand.J && tokens.TryNext(out var type))
                {
                    var mapped = AlipDataType.Map(type);
                    tokens.TryReadRest(out var content);
                    if (mapped.Kind == AlipDataKind.Location)
                    {
                        sum += Location.TryParseAlipL(content, out var location) == ValueError.None ? (long)location.Latitude : -1_000_000;
                    }

                    sum += mapped.StoredType!.Length;
                }
            }

            return sum;
        }

        var expected = Run(single);
        Assert.Equal(200 * ((2 * 1700000000L) + 48 + "sen:loc".Length + "sen:temp".Length + "sen:adc:3".Length), expected);
        Assert.Equal(expected, Run(segmented));
        Assert.Equal(0, AllocatedBy(() => Run(single)));
        Assert.Equal(0, AllocatedBy(() => Run(segmented)));
    }

    [Fact]
    public void Writing_frames_and_lines_allocates_nothing_beyond_the_output_buffer()
    {
        var output = new ArrayBufferWriter<byte>(1 << 20);
        var payload = new byte[300];
        ReadOnlyMemory<byte>[] items = [new byte[20], new byte[30]];
        var chunk = new byte[512];

        void Run()
        {
            output.ResetWrittenCount();
            for (var i = 0; i < 100; i++)
            {
                M2mpWriter.WriteData(output, 1, payload);
                M2mpWriter.WriteArray(output, 2, items);
                M2mpWriter.WriteDevicePing(output, 7);
                AlipWriter.WriteTime(output, 1700000000);
                AlipWriter.WriteFirmwareChunk(output, 4096, chunk);
                AlipWriter.WriteBarrierAnswer(output, "1"u8);
                AlipWriter.WriteSetting(output, "gps_period", "60");
            }
        }

        Assert.Equal(0, AllocatedBy(Run));
        Assert.True(output.WrittenCount > 100 * 1000);
    }
}
