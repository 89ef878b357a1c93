namespace M2M.Ingest.Alip;

/// <summary>The command keyword of an ALIP line (the text before the first space), recognised without allocating.</summary>
public enum AlipCommand : byte
{
    /// <summary>Any other keyword (answered <c>ERR Command "&lt;X&gt;" not understood</c>).</summary>
    Unknown,

    /// <summary><c>ID &lt;ident&gt;</c>.</summary>
    Id,

    /// <summary><c>D &lt;type&gt; &lt;content&gt;</c>: a record stamped now.</summary>
    D,

    /// <summary><c>E &lt;time&gt; &lt;type&gt; &lt;content&gt;</c>: a record with its time.</summary>
    E,

    /// <summary><c>J &lt;time&gt; &lt;type&gt; &lt;json&gt;</c>: a JSON record.</summary>
    J,

    /// <summary><c>A &lt;token&gt;</c>: delivery barrier (or the server's ping).</summary>
    A,

    /// <summary><c>B &lt;token&gt;</c>: answer to an <c>A</c>.</summary>
    B,

    /// <summary><c>T</c>: time request (or the server's time answer).</summary>
    T,

    /// <summary><c>S …</c>: settings.</summary>
    S,

    /// <summary><c>C …</c>: commands.</summary>
    C,

    /// <summary><c>F …</c>: firmware files.</summary>
    F,

    /// <summary><c>QUIT</c>.</summary>
    Quit,

    /// <summary><c>DB &lt;sub&gt;</c>: diagnostics.</summary>
    Db,
}

/// <summary>What <see cref="AlipLineReader"/> returned.</summary>
public enum AlipLineKind : byte
{
    /// <summary>A complete line within the maximum length.</summary>
    Line,

    /// <summary>A line over the maximum length: reported once, its bytes discarded up to its <c>\n</c>.</summary>
    LineTooLong,
}

/// <summary>
/// One ALIP line, pointing into the reader's buffer (valid until the next read or <c>AdvanceTo</c>).
/// <code>
/// line    = command [ SP content ] [ CR ] LF
/// command = 1*( any byte but SP, CR, LF )
/// </code>
/// </summary>
public readonly ref struct AlipLine
{
    internal AlipLine(AlipLineKind kind, ReadOnlySpan<byte> text)
    {
        Kind = kind;
        Text = text;
        if (kind != AlipLineKind.Line)
        {
            Command = AlipCommand.Unknown;
            return;
        }

        var space = text.IndexOf((byte)' ');
        if (space < 0)
        {
            Keyword = text;
            Content = default;
            HasContent = false;
        }
        else
        {
            Keyword = text[..space];
            Content = text[(space + 1)..];
            HasContent = true;
        }

        Command = Recognise(Keyword);
    }

    public AlipLineKind Kind { get; }

    public AlipCommand Command { get; }

    /// <summary>The whole line without its <c>\n</c> and trailing <c>\r</c> (empty for <see cref="AlipLineKind.LineTooLong"/>).</summary>
    public ReadOnlySpan<byte> Text { get; }

    /// <summary>The bytes before the first space (the command as sent, e.g. for <c>ERR Command "X" not understood</c>).</summary>
    public ReadOnlySpan<byte> Keyword { get; }

    /// <summary>The bytes after the first space.</summary>
    public ReadOnlySpan<byte> Content { get; }

    /// <summary>Whether the line had a space after the keyword.</summary>
    public bool HasContent { get; }

    /// <summary>A tokenizer over <see cref="Content"/>.</summary>
    public AlipTokenizer GetTokens() => new(Content);

    /// <summary>Maps a keyword to its command (case-sensitive, as the spec writes them).</summary>
    public static AlipCommand Recognise(ReadOnlySpan<byte> keyword)
    {
        switch (keyword.Length)
        {
            case 1:
                return keyword[0] switch
                {
                    (byte)'D' => AlipCommand.D,
                    (byte)'E' => AlipCommand.E,
                    (byte)'J' => AlipCommand.J,
                    (byte)'A' => AlipCommand.A,
                    (byte)'B' => AlipCommand.B,
                    (byte)'T' => AlipCommand.T,
                    (byte)'S' => AlipCommand.S,
                    (byte)'C' => AlipCommand.C,
                    (byte)'F' => AlipCommand.F,
                    _ => AlipCommand.Unknown,
                };
            case 2:
                if (keyword.SequenceEqual("ID"u8))
                {
                    return AlipCommand.Id;
                }

                return keyword.SequenceEqual("DB"u8) ? AlipCommand.Db : AlipCommand.Unknown;
            case 4:
                return keyword.SequenceEqual("QUIT"u8) ? AlipCommand.Quit : AlipCommand.Unknown;
            default:
                return AlipCommand.Unknown;
        }
    }
}

/// <summary>
/// Splits ALIP content on single spaces (<c>"a  b"</c> gives <c>a</c>, an empty token, <c>b</c>);
/// <see cref="Rest"/> is the untokenized remainder (the free-text content of <c>D</c>, <c>E</c>, <c>J</c>, <c>C</c>…).
/// </summary>
public ref struct AlipTokenizer
{
    private ReadOnlySpan<byte> _rest;
    private bool _done;

    public AlipTokenizer(ReadOnlySpan<byte> content)
    {
        _rest = content;
        _done = content.IsEmpty;
    }

    /// <summary>What is left after the tokens read so far.</summary>
    public readonly ReadOnlySpan<byte> Rest => _rest;

    /// <summary>Reads the next token; <c>false</c> when the content is exhausted.</summary>
    public bool TryNext(out ReadOnlySpan<byte> token)
    {
        if (_done)
        {
            token = default;
            return false;
        }

        var space = _rest.IndexOf((byte)' ');
        if (space < 0)
        {
            token = _rest;
            _rest = default;
            _done = true;
            return true;
        }

        token = _rest[..space];
        _rest = _rest[(space + 1)..];
        return true;
    }

    /// <summary>The rest of the content as one token ("rest of line"); <c>false</c> when nothing is left.</summary>
    public bool TryReadRest(out ReadOnlySpan<byte> rest)
    {
        if (_done)
        {
            rest = default;
            return false;
        }

        rest = _rest;
        _rest = default;
        _done = true;
        return true;
    }
}
