using System.Buffers;

namespace M2M.Fuzz;

/// <summary>Builds multi-segment sequences (each segment on its own array).</summary>
internal sealed class Segments : ReadOnlySequenceSegment<byte>
{
    private Segments(ReadOnlyMemory<byte> memory, long runningIndex)
    {
        Memory = memory;
        RunningIndex = runningIndex;
    }

    public static ReadOnlySequence<byte> Split(byte[] data, int[] cuts)
    {
        if (cuts.Length == 0)
        {
            return new ReadOnlySequence<byte>(data);
        }

        var first = new Segments(data.AsSpan(0, cuts[0]).ToArray(), 0);
        var last = first;
        var start = cuts[0];
        for (var i = 1; i <= cuts.Length; i++)
        {
            var end = i < cuts.Length ? cuts[i] : data.Length;
            var next = new Segments(data.AsSpan(start, end - start).ToArray(), start);
            last.Next = next;
            last = next;
            start = end;
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }
}
