using System.Buffers;
using System.Buffers.Binary;
using BenchmarkDotNet.Attributes;
using M2M.Ingest.M2mp;

namespace M2M.Benchmarks;

/// <summary>
/// M2MP frame parsing of one buffer of identical frames, just under 64 KiB: times are per buffer
/// (SmallLocation19B: 3449 frames, 65531 B; MediumData300B: 218 frames, 65400 B; Array10x20B: 307 frames, 65391 B).
/// Expected allocation: 0 B per frame for every reader benchmark (the frame and the item enumerator are structs that
/// point into the buffer); the baseline walks the frame headers only.
/// </summary>
[MemoryDiagnoser]
public class M2mpReaderBenchmarks
{
    private const int BufferSize = 64 * 1024;

    private readonly M2mpReader _reader = new();
    private ReadOnlySequence<byte> _input;
    private byte[] _bytes = [];

    public enum FrameKind
    {
        /// <summary>The spec's 19-byte <c>sen:loc</c> data frame (<c>21 11 00 …</c>).</summary>
        SmallLocation19B,

        /// <summary>A 300-byte data frame (<c>41 01 29 …</c>, 296-byte payload).</summary>
        MediumData300B,

        /// <summary>A 213-byte <c>_set</c>-like array frame of 10 items of 20 bytes.</summary>
        Array10x20B,
    }

    [Params(FrameKind.SmallLocation19B, FrameKind.MediumData300B, FrameKind.Array10x20B)]
    public FrameKind Kind { get; set; }

    [Params(InputShape.SingleSegment, InputShape.Segments128B)]
    public InputShape Shape { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var frame = Kind switch
        {
            FrameKind.SmallLocation19B => Convert.FromHexString("2111006553f100424366664016666600 2a0023".Replace(" ", "", StringComparison.Ordinal)),
            FrameKind.MediumData300B => Medium(),
            _ => ArrayFrame(),
        };
        var count = BufferSize / frame.Length;
        _bytes = new byte[count * frame.Length];
        for (var i = 0; i < count; i++)
        {
            frame.CopyTo(_bytes, i * frame.Length);
        }

        _input = Segment.Create(_bytes, Shape);
        if (Read() != Baseline())
        {
            throw new InvalidOperationException("The reader and the baseline disagree.");
        }
    }

    /// <summary>Walks type + SIZE of each frame on the contiguous bytes and skips the body: the floor for any parser.</summary>
    [Benchmark(Baseline = true)]
    public long Baseline()
    {
        var span = _bytes.AsSpan();
        long sum = 0;
        while (!span.IsEmpty)
        {
            var type = span[0];
            int width = type <= 0x40 ? 1 : type <= 0x60 ? 2 : 4;
            long size = width == 1 ? span[1] : width == 2 ? BinaryPrimitives.ReadUInt16BigEndian(span[1..]) : BinaryPrimitives.ReadUInt32BigEndian(span[1..]);
            sum += size;
            span = span[(int)(1 + width + size)..];
        }

        return sum;
    }

    /// <summary>Parses every frame (validating array items) and, for arrays, enumerates the items. Expected: 0 B.</summary>
    [Benchmark]
    public long Read()
    {
        var reader = new SequenceReader<byte>(_input);
        long sum = 0;
        while (_reader.TryRead(ref reader, out var frame))
        {
            if (frame.Kind == M2mpFrameKind.Array)
            {
                foreach (var item in frame.GetItems())
                {
                    sum += item.Length;
                }

                sum += 1 + (frame.ItemCount * frame.SizeWidth);
            }
            else
            {
                sum += frame.Payload.Length + 1;
            }
        }

        return sum;
    }

    private static byte[] Medium()
    {
        var frame = new byte[300];
        frame[0] = 0x41;
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(1), 297);
        frame[3] = 4;
        new Random(1).NextBytes(frame.AsSpan(4));
        return frame;
    }

    private static byte[] ArrayFrame()
    {
        var items = Enumerable.Range(0, 10).Select(i => (ReadOnlyMemory<byte>)System.Text.Encoding.ASCII.GetBytes($"setting_{i:D2}=value_{i:D3}")).ToArray();
        var output = new ArrayBufferWriter<byte>();
        M2mpWriter.WriteArray(output, 1, items);
        return output.WrittenSpan.ToArray();
    }
}
