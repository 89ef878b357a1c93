using System.Buffers;

namespace M2M.Ingest.Alip;

/// <summary>
/// Reads ALIP lines from a byte stream; one instance per connection. It enforces the maximum line length while scanning:
/// an over-long line is reported once (<see cref="AlipLineKind.LineTooLong"/>) and its bytes are consumed and discarded up
/// to its <c>\n</c> as they arrive, so memory stays bounded whatever the device sends.
/// </summary>
/// <remarks>
/// Session loop (a line points into the pipe's buffer, or into this reader's scratch buffer when it spans segments):
/// <code>
/// var result = await input.ReadAsync(ct);
/// var sr = new SequenceReader&lt;byte&gt;(result.Buffer);
/// try { while (alip.TryRead(ref sr, out var line)) Handle(line); }
/// finally { input.AdvanceTo(sr.Position, result.Buffer.End); }
/// </code>
/// Unlike the M2MP reader, a <c>false</c> return may have consumed bytes: those of an over-long line being discarded.
/// The reader never throws on device input.
/// </remarks>
public sealed class AlipLineReader
{
    /// <summary>The default maximum line length: 4 KiB (without the <c>\n</c> and trailing <c>\r</c>).</summary>
    public const int DefaultMaxLineLength = 4096;

    private int _window;
    private byte[]? _scratch;

    /// <summary>Creates a reader with the given maximum line length.</summary>
    public AlipLineReader(int maxLineLength = DefaultMaxLineLength)
    {
        MaxLineLength = maxLineLength;
    }

    /// <summary>
    /// The longest line accepted (1 B to 1 MiB). May change between lines (a session accepts only short
    /// lines until the device is identified).
    /// </summary>
    public int MaxLineLength
    {
        get;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, 1024 * 1024);
            field = value;

            // The longest acceptable line on the wire: content, CR, LF.
            _window = value + 2;
        }
    }

    /// <summary>Whether the reader is discarding the rest of an over-long line.</summary>
    public bool IsDiscarding { get; private set; }

    /// <summary>Over-long lines seen on this connection.</summary>
    public long LinesTooLong { get; private set; }

    /// <summary>
    /// Reads one line.
    /// <code>
    /// line = *( any byte but LF ) LF      ; a CR before LF is dropped; at most MaxLineLength bytes before [CR] LF
    /// </code>
    /// <c>false</c>: no complete line yet (only discarded bytes of an over-long line were consumed).
    /// </summary>
    public bool TryRead(scoped ref SequenceReader<byte> reader, out AlipLine line)
    {
        line = default;
        if (IsDiscarding && !Discard(ref reader))
        {
            return false;
        }

        // Fast path: the line ends inside the current segment.
        var span = reader.UnreadSpan;
        var newline = span[..Math.Min(span.Length, _window)].IndexOf((byte)'\n');
        if (newline >= 0)
        {
            reader.Advance(newline + 1);
            line = Complete(span[..newline]);
            return true;
        }

        if (span.Length < _window && span.Length < reader.Remaining)
        {
            // The line goes on in the next segments. Searching past the window is fine: bytes scanned beyond it
            // belong to an over-long line and are consumed right away, so every byte is scanned a bounded number of times.
            var probe = reader;
            if (probe.TryReadTo(out ReadOnlySequence<byte> text, (byte)'\n'))
            {
                reader = probe;
                line = text.Length < _window ? CompleteAcrossSegments(text) : TooLong();
                return true;
            }
        }

        if (reader.Remaining < _window)
        {
            return false;
        }

        // No LF within the longest acceptable line: report it now and discard it as it arrives.
        line = TooLong();
        IsDiscarding = true;
        Discard(ref reader);
        return true;
    }

    /// <summary>
    /// The Bedrock shape of <see cref="TryRead"/>: <paramref name="consumed"/> moves past the line (and past discarded
    /// bytes); on "need more" <paramref name="examined"/> moves to the end of <paramref name="input"/>.
    /// </summary>
    public bool TryParseMessage(in ReadOnlySequence<byte> input, ref SequencePosition consumed, ref SequencePosition examined, out AlipLine line)
    {
        var reader = new SequenceReader<byte>(input);
        var found = TryRead(ref reader, out line);
        consumed = reader.Position;
        examined = found ? consumed : input.End;
        return found;
    }

    private AlipLine CompleteAcrossSegments(scoped in ReadOnlySequence<byte> text)
    {
        if (_scratch is null || _scratch.Length < _window)
        {
            _scratch = new byte[_window];
        }
        text.CopyTo(_scratch);
        return Complete(_scratch.AsSpan(0, (int)text.Length));
    }

    private AlipLine TooLong()
    {
        LinesTooLong++;
        return new AlipLine(AlipLineKind.LineTooLong, default);
    }

    private AlipLine Complete(ReadOnlySpan<byte> text)
    {
        if (!text.IsEmpty && text[^1] == (byte)'\r')
        {
            text = text[..^1];
        }

        if (text.Length > MaxLineLength)
        {
            return TooLong();
        }

        return new AlipLine(AlipLineKind.Line, text);
    }

    /// <summary>Consumes bytes up to and including the next <c>\n</c>; <c>true</c> when it was found (discarding ends).</summary>
    private bool Discard(ref SequenceReader<byte> reader)
    {
        if (reader.TryAdvanceTo((byte)'\n', advancePastDelimiter: true))
        {
            IsDiscarding = false;
            return true;
        }

        reader.AdvanceToEnd();
        return false;
    }
}
