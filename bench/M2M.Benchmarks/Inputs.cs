using System.Buffers;

namespace M2M.Benchmarks;

/// <summary>How the benchmark input is laid out in memory.</summary>
public enum InputShape
{
    /// <summary>One contiguous buffer (the pipe's common case).</summary>
    SingleSegment,

    /// <summary>128-byte segments: many frames and lines cross a segment boundary.</summary>
    Segments128B,
}

internal sealed class Segment : ReadOnlySequenceSegment<byte>
{
    private Segment(ReadOnlyMemory<byte> memory, long runningIndex)
    {
        Memory = memory;
        RunningIndex = runningIndex;
    }

    public static ReadOnlySequence<byte> Create(byte[] data, InputShape shape)
    {
        if (shape == InputShape.SingleSegment)
        {
            return new ReadOnlySequence<byte>(data);
        }

        const int size = 128;
        var first = new Segment(data.AsMemory(0, Math.Min(size, data.Length)), 0);
        var last = first;
        for (var start = size; start < data.Length; start += size)
        {
            var next = new Segment(data.AsMemory(start, Math.Min(size, data.Length - start)), start);
            last.Next = next;
            last = next;
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }
}
