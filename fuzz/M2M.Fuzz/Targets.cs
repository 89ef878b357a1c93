using System.Buffers;
using M2M.Ingest.Alip;
using M2M.Ingest.M2mp;
using M2M.Ingest.Values;

namespace M2M.Fuzz;

/// <summary>
/// The fuzz targets. Each reads its input whole, split into segments and delivered in chunks as a pipe would, and
/// throws <see cref="InvariantViolationException"/> when the three disagree. Any exception other than the protocol's
/// own (<see cref="M2mpProtocolException"/>; the ALIP reader throws none) escapes and is a finding.
/// </summary>
internal static class Targets
{
    public static void M2mp(ReadOnlySpan<byte> data)
    {
        var bytes = data.ToArray();
        foreach (var sender in (ReadOnlySpan<M2mpSender>)[M2mpSender.Device, M2mpSender.Server])
        {
            var whole = ReadM2mp(new ReadOnlySequence<byte>(bytes), sender);
            var split = ReadM2mp(Segments.Split(bytes, CutsFor(bytes)), sender);
            var chunked = ReadM2mpChunked(bytes, sender, 1 + (bytes.Length % 7));
            Check("m2mp split", whole, split);
            Check("m2mp chunked", whole, chunked);
        }
    }

    public static void Alip(ReadOnlySpan<byte> data)
    {
        var bytes = data.ToArray();

        // A small maximum line length so that the over-long paths are reached by short inputs.
        foreach (var max in (ReadOnlySpan<int>)[16, AlipLineReader.DefaultMaxLineLength])
        {
            var whole = ReadAlip(new AlipLineReader(max), new ReadOnlySequence<byte>(bytes));
            var split = ReadAlip(new AlipLineReader(max), Segments.Split(bytes, CutsFor(bytes)));
            var chunked = ReadAlipChunked(bytes, max, 1 + (bytes.Length % 5));
            Check("alip split", whole, split);
            Check("alip chunked", whole, chunked);
        }
    }

    private static void Check(string what, in Digest expected, in Digest actual)
    {
        if (!expected.Equals(actual))
        {
            throw new InvariantViolationException($"{what}: {actual} differs from {expected}.");
        }
    }

    /// <summary>Deterministic cut points derived from the input, so that a finding reproduces.</summary>
    private static int[] CutsFor(byte[] bytes)
    {
        if (bytes.Length < 2)
        {
            return [];
        }

        var cuts = new int[Math.Min(8, bytes.Length / 2)];
        var state = (uint)bytes.Length * 2654435761u;
        for (var i = 0; i < cuts.Length; i++)
        {
            state = (state ^ bytes[i % bytes.Length]) * 16777619u;
            cuts[i] = (int)(state % (uint)(bytes.Length + 1));
        }

        Array.Sort(cuts);
        return cuts;
    }

    private static Digest ReadM2mp(ReadOnlySequence<byte> input, M2mpSender sender)
    {
        var digest = new Digest();
        var reader = new M2mpReader(sender, maxFrameSize: 4096);
        var sequenceReader = new SequenceReader<byte>(input);
        try
        {
            while (reader.TryRead(ref sequenceReader, out var frame))
            {
                digest.Add(frame);
                Exercise(frame);
            }
        }
        catch (M2mpProtocolException e)
        {
            digest.Error = (int)e.Error + 1;
        }

        digest.Consumed = sequenceReader.Consumed;
        return digest;
    }

    private static Digest ReadM2mpChunked(byte[] bytes, M2mpSender sender, int chunk)
    {
        var digest = new Digest();
        var reader = new M2mpReader(sender, maxFrameSize: 4096);
        var consumed = 0;
        try
        {
            for (var received = Math.Min(chunk, bytes.Length); ; received = Math.Min(received + chunk, bytes.Length))
            {
                var sequenceReader = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes, consumed, received - consumed));
                try
                {
                    while (reader.TryRead(ref sequenceReader, out var frame))
                    {
                        digest.Add(frame);
                    }
                }
                finally
                {
                    consumed += (int)sequenceReader.Consumed;
                }

                if (received == bytes.Length)
                {
                    break;
                }
            }
        }
        catch (M2mpProtocolException e)
        {
            digest.Error = (int)e.Error + 1;
        }

        digest.Consumed = consumed;
        return digest;
    }

    private static void Exercise(in M2mpFrame frame)
    {
        switch (frame.Kind)
        {
            case M2mpFrameKind.Data:
                Location.TryDecodeM2mp(frame.Payload, out _);
                if (frame.Payload.Length < 64)
                {
                    JsonString.FromUtf8(frame.Payload);
                }

                break;
            case M2mpFrameKind.ChannelDefinition:
                new M2mpReceiveChannels().Define(frame);
                break;
            case M2mpFrameKind.Identification:
                Identification.IsValidM2mp(frame.Payload.IsSingleSegment ? frame.Payload.FirstSpan : frame.Payload.ToArray());
                break;
        }
    }

    private static Digest ReadAlip(AlipLineReader reader, ReadOnlySequence<byte> input)
    {
        var digest = new Digest();
        var sequenceReader = new SequenceReader<byte>(input);
        while (reader.TryRead(ref sequenceReader, out var line))
        {
            digest.Add(line);
            Exercise(line);
        }

        return digest;
    }

    private static Digest ReadAlipChunked(byte[] bytes, int max, int chunk)
    {
        var digest = new Digest();
        var reader = new AlipLineReader(max);
        var consumed = 0;
        for (var received = Math.Min(chunk, bytes.Length); ; received = Math.Min(received + chunk, bytes.Length))
        {
            var sequenceReader = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes, consumed, received - consumed));
            while (reader.TryRead(ref sequenceReader, out var line))
            {
                digest.Add(line);
            }

            consumed += (int)sequenceReader.Consumed;
            if (received - consumed > max + 2)
            {
                throw new InvariantViolationException($"alip: {received - consumed} bytes left unconsumed with a maximum line of {max}.");
            }

            if (received == bytes.Length)
            {
                break;
            }
        }

        return digest;
    }

    private static void Exercise(AlipLine line)
    {
        if (line.Kind != AlipLineKind.Line)
        {
            return;
        }

        var tokens = line.GetTokens();
        switch (line.Command)
        {
            case AlipCommand.Id:
                Identification.IsValidAlip(line.Content);
                break;
            case AlipCommand.D:
                if (tokens.TryNext(out var type))
                {
                    var mapped = AlipDataType.Map(type);
                    tokens.TryReadRest(out var content);
                    ExerciseContent(mapped, content);
                }

                break;
            case AlipCommand.E or AlipCommand.J:
                if (tokens.TryNext(out var time) && tokens.TryNext(out var eType))
                {
                    AlipTime.TryParse(time, out _);
                    tokens.TryReadRest(out var content);
                    ExerciseContent(AlipDataType.Map(eType), content);
                }

                break;
            case AlipCommand.F:
                Span<byte> chunk = stackalloc byte[64];
                Hex.TryDecode(line.Content, chunk, out _);
                break;
        }
    }

    private static void ExerciseContent(AlipDataType type, ReadOnlySpan<byte> content)
    {
        switch (type.Kind)
        {
            case AlipDataKind.Location:
                if (Location.TryParseAlipL(content, out var location) == ValueError.None)
                {
                    location.ToJson();
                }

                break;
            case AlipDataKind.TimedLocation:
                if (Location.TryParseAlipG(content, out var timed) == ValueError.None)
                {
                    timed.ToJson();
                }

                break;
            default:
                JsonString.FromUtf8(content);
                break;
        }
    }
}

/// <summary>A split or a chunked delivery gave another result than the whole input.</summary>
internal sealed class InvariantViolationException(string message) : Exception(message);

/// <summary>An order-sensitive hash of what a reader returned.</summary>
internal struct Digest : IEquatable<Digest>
{
    private HashCode _hash;

    public int Count { get; private set; }

    public int Error { get; set; }

    public long Consumed { get; set; }

    private int Value { get; set; }

    public void Add(in M2mpFrame frame)
    {
        _hash.Add(frame.Kind);
        _hash.Add(frame.Type);
        _hash.Add(frame.Value);
        _hash.Add(frame.Channel);
        _hash.Add(frame.Length);
        AddBytes(frame.Payload);
        if (frame.Kind == M2mpFrameKind.Array)
        {
            var items = 0;
            foreach (var item in frame.GetItems())
            {
                _hash.Add(item.Length);
                AddBytes(item);
                items++;
            }

            if (items != frame.ItemCount)
            {
                throw new InvariantViolationException($"m2mp: {items} items enumerated, {frame.ItemCount} counted.");
            }
        }

        Count++;
        Value = _hash.ToHashCode();
    }

    public void Add(AlipLine line)
    {
        _hash.Add(line.Kind);
        _hash.Add(line.Command);
        foreach (var b in line.Text)
        {
            _hash.Add(b);
        }

        Count++;
        Value = _hash.ToHashCode();
    }

    public readonly bool Equals(Digest other) =>
        Count == other.Count && Error == other.Error && Value == other.Value && (Consumed == other.Consumed || Error != 0);

    public override readonly bool Equals(object? obj) => obj is Digest other && Equals(other);

    public override readonly int GetHashCode() => Value;

    public override readonly string ToString() => $"{Count} results, error {Error}, consumed {Consumed}, hash {Value:x8}";

    private void AddBytes(in ReadOnlySequence<byte> bytes)
    {
        // Byte by byte: HashCode.AddBytes would depend on where the segments are cut.
        foreach (var segment in bytes)
        {
            foreach (var b in segment.Span)
            {
                _hash.Add(b);
            }
        }
    }
}
