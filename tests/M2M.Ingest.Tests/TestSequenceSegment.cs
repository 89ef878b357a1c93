using System.Buffers;

namespace M2M.Ingest.Tests;

/// <summary>A segment of a multi-segment <see cref="ReadOnlySequence{T}"/> built by tests.</summary>
internal sealed class TestSequenceSegment : ReadOnlySequenceSegment<byte>
{
    public TestSequenceSegment(ReadOnlyMemory<byte> memory)
    {
        Memory = memory;
    }

    public TestSequenceSegment Append(ReadOnlyMemory<byte> memory)
    {
        var next = new TestSequenceSegment(memory) { RunningIndex = RunningIndex + Memory.Length };
        Next = next;
        return next;
    }

    /// <summary>A sequence whose segments end at <paramref name="cuts"/> (ascending offsets; repeated cuts give empty segments).</summary>
    public static ReadOnlySequence<byte> Split(byte[] data, IReadOnlyList<int> cuts)
    {
        if (cuts.Count == 0)
        {
            return new ReadOnlySequence<byte>(data);
        }

        // Each segment gets its own array, so a reader cannot get away with reading past a segment's end.
        var first = new TestSequenceSegment(data.AsSpan(0, cuts[0]).ToArray());
        var last = first;
        var start = cuts[0];
        for (var i = 1; i <= cuts.Count; i++)
        {
            var end = i < cuts.Count ? cuts[i] : data.Length;
            last = last.Append(data.AsSpan(start, end - start).ToArray());
            start = end;
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    /// <summary>One segment per byte.</summary>
    public static ReadOnlySequence<byte> BytePerSegment(byte[] data) =>
        Split(data, Enumerable.Range(1, Math.Max(0, data.Length - 1)).ToArray());

    /// <summary>Every way to cut <paramref name="data"/> into 1, 2 or 3 segments (including empty ones), plus one byte per segment.</summary>
    public static IEnumerable<ReadOnlySequence<byte>> AllSplits(byte[] data)
    {
        yield return new ReadOnlySequence<byte>(data);
        for (var i = 0; i <= data.Length; i++)
        {
            yield return Split(data, [i]);
            for (var j = i; j <= data.Length; j++)
            {
                yield return Split(data, [i, j]);
            }
        }

        yield return BytePerSegment(data);
    }

    /// <summary><paramref name="count"/> random cuts (seeded).</summary>
    public static ReadOnlySequence<byte> RandomSplit(byte[] data, Random random, int count)
    {
        var cuts = new int[count];
        for (var i = 0; i < count; i++)
        {
            cuts[i] = random.Next(data.Length + 1);
        }

        Array.Sort(cuts);
        return Split(data, cuts);
    }
}
