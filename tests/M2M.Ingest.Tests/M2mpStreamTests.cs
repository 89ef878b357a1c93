using System.Buffers;
using M2M.Ingest.M2mp;

namespace M2M.Ingest.Tests;

/// <summary>Random frame streams: encode → decode is the identity, whatever the split or the delivery.</summary>
public sealed class M2mpStreamTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void Random_frames_encode_then_decode_to_the_original(int seed)
    {
        var (models, bytes) = M2mpRandomFrames.Generate(new Random(seed), 200);
        var reader = new M2mpReader();
        var sequenceReader = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes));
        foreach (var model in models)
        {
            Assert.True(reader.TryRead(ref sequenceReader, out var frame));
            model.AssertMatches(frame);
        }

        Assert.True(sequenceReader.End);
        Assert.Equal(models.Count(m => m.Kind == M2mpFrameKind.Skipped), reader.SkippedFrames);
    }

    [Theory]
    [InlineData(10)]
    [InlineData(11)]
    [InlineData(12)]
    public void Random_splits_of_a_random_stream_give_the_same_frames(int seed)
    {
        var random = new Random(seed);
        var (_, bytes) = M2mpRandomFrames.Generate(random, 100);
        var expected = M2mpTestReader.ReadAll(bytes);
        Assert.Equal(100, expected.Count);
        for (var i = 0; i < 50; i++)
        {
            var split = TestSequenceSegment.RandomSplit(bytes, random, random.Next(1, 64));
            Assert.Equal(expected, M2mpTestReader.ReadAll(split));
        }
    }

    [Fact]
    public void A_small_random_stream_gives_the_same_frames_split_every_way()
    {
        var (_, bytes) = M2mpRandomFrames.Generate(new Random(20), 6, includeLarge: false);
        var expected = M2mpTestReader.ReadAll(bytes);
        foreach (var split in TestSequenceSegment.AllSplits(bytes.Length > 300 ? bytes[..300] : bytes))
        {
            var prefixFrames = M2mpTestReader.ReadAll(split);
            Assert.Equal(expected.Take(prefixFrames.Count), prefixFrames);
        }
    }

    [Theory]
    [InlineData(30, 1)]
    [InlineData(31, 7)]
    [InlineData(32, 4096)]
    public void Pipe_delivery_in_chunks_gives_the_same_frames_as_one_buffer(int seed, int chunk)
    {
        var (_, bytes) = M2mpRandomFrames.Generate(new Random(seed), 60, includeLarge: false);
        var expected = M2mpTestReader.ReadAll(bytes);
        var frames = new List<string>();
        var reader = new M2mpReader();
        var consumed = 0;
        for (var received = Math.Min(chunk, bytes.Length); ; received = Math.Min(received + chunk, bytes.Length))
        {
            // What a pipe would hand over: the unconsumed bytes received so far.
            var sequenceReader = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes, consumed, received - consumed));
            while (reader.TryRead(ref sequenceReader, out var frame))
            {
                frames.Add(M2mpTestReader.Describe(frame));
            }

            consumed += (int)sequenceReader.Consumed;
            if (received == bytes.Length)
            {
                break;
            }
        }

        Assert.Equal(bytes.Length, consumed);
        Assert.Equal(expected, frames);
    }

    [Fact]
    public void Every_truncated_prefix_of_a_random_stream_yields_only_the_frames_it_completes()
    {
        var (models, bytes) = M2mpRandomFrames.Generate(new Random(40), 40, includeLarge: false);
        var ends = new List<long>();
        var whole = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes));
        var reader = new M2mpReader();
        while (reader.TryRead(ref whole, out _))
        {
            ends.Add(whole.Consumed);
        }

        Assert.Equal(models.Count, ends.Count);
        for (var length = 0; length <= bytes.Length; length++)
        {
            var frames = M2mpTestReader.ReadAll(new M2mpReader(), new ReadOnlySequence<byte>(bytes, 0, length), out var consumed);
            var complete = ends.Count(end => end <= length);
            Assert.Equal(complete, frames.Count);
            Assert.Equal(complete == 0 ? 0 : ends[complete - 1], consumed);
        }
    }
}
