using System.Buffers;
using M2M.Ingest.M2mp;

namespace M2M.Ingest.Tests;

/// <summary>Reads frames into comparable text snapshots (owned copies of everything the frame points to).</summary>
internal static class M2mpTestReader
{
    public static string Describe(in M2mpFrame frame)
    {
        var text = $"{frame.Kind} t={frame.Type:x2} v={frame.Value} ch={frame.Channel} w={frame.SizeWidth} len={frame.Length} payload={Bytes.ToHex(frame.Payload.ToArray())}";
        if (frame.Kind == M2mpFrameKind.Array)
        {
            var items = new List<string>();
            foreach (var item in frame.GetItems())
            {
                items.Add(Bytes.ToHex(item.ToArray()));
            }

            Assert.Equal(frame.ItemCount, items.Count);
            text += " items=[" + string.Join(",", items) + "]";
        }

        return text;
    }

    /// <summary>Reads every complete frame; <paramref name="consumed"/> is where the reader stopped.</summary>
    public static List<string> ReadAll(M2mpReader reader, ReadOnlySequence<byte> input, out long consumed)
    {
        var frames = new List<string>();
        var sequenceReader = new SequenceReader<byte>(input);
        while (true)
        {
            var before = sequenceReader.Consumed;
            if (!reader.TryRead(ref sequenceReader, out var frame))
            {
                // "Need more" consumes nothing.
                Assert.Equal(before, sequenceReader.Consumed);
                break;
            }

            Assert.Equal(frame.Length, sequenceReader.Consumed - before);
            frames.Add(Describe(frame));
        }

        consumed = sequenceReader.Consumed;
        return frames;
    }

    public static List<string> ReadAll(ReadOnlySequence<byte> input, M2mpSender sender = M2mpSender.Device) =>
        ReadAll(new M2mpReader(sender), input, out _);

    public static List<string> ReadAll(byte[] input, M2mpSender sender = M2mpSender.Device) =>
        ReadAll(new ReadOnlySequence<byte>(input), sender);

    /// <summary>The error kind the reader throws on <paramref name="input"/> (asserting it throws nothing else).</summary>
    public static M2mpError? ErrorOf(ReadOnlySequence<byte> input, M2mpSender sender = M2mpSender.Device, int maxFrameSize = M2mpReader.DefaultMaxFrameSize)
    {
        try
        {
            ReadAll(new M2mpReader(sender, maxFrameSize), input, out _);
            return null;
        }
        catch (M2mpProtocolException e)
        {
            return e.Error;
        }
    }
}
