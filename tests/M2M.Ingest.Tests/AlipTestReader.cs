using System.Buffers;
using System.Text;
using M2M.Ingest.Alip;

namespace M2M.Ingest.Tests;

/// <summary>Reads ALIP lines into comparable text snapshots.</summary>
internal static class AlipTestReader
{
    public static string Describe(AlipLine line) => line.Kind == AlipLineKind.LineTooLong
        ? "<too long>"
        : $"{line.Command}|{Encoding.Latin1.GetString(line.Text)}";

    public static List<string> ReadAll(AlipLineReader reader, ReadOnlySequence<byte> input, out long consumed)
    {
        var lines = new List<string>();
        var sequenceReader = new SequenceReader<byte>(input);
        while (reader.TryRead(ref sequenceReader, out var line))
        {
            lines.Add(Describe(line));
        }

        consumed = sequenceReader.Consumed;
        return lines;
    }

    public static List<string> ReadAll(ReadOnlySequence<byte> input, int maxLineLength = AlipLineReader.DefaultMaxLineLength) =>
        ReadAll(new AlipLineReader(maxLineLength), input, out _);

    public static List<string> ReadAll(byte[] input, int maxLineLength = AlipLineReader.DefaultMaxLineLength) =>
        ReadAll(new ReadOnlySequence<byte>(input), maxLineLength);

    /// <summary>Delivers <paramref name="input"/> in chunks as a pipe would; returns the lines and the most bytes ever left buffered.</summary>
    public static List<string> ReadChunked(byte[] input, int chunk, int maxLineLength, out int maxBuffered)
    {
        var reader = new AlipLineReader(maxLineLength);
        var lines = new List<string>();
        var consumed = 0;
        maxBuffered = 0;
        for (var received = Math.Min(chunk, input.Length); ; received = Math.Min(received + chunk, input.Length))
        {
            lines.AddRange(ReadAll(reader, new ReadOnlySequence<byte>(input, consumed, received - consumed), out var step));
            consumed += (int)step;
            maxBuffered = Math.Max(maxBuffered, received - consumed);
            if (received == input.Length)
            {
                return lines;
            }
        }
    }
}
