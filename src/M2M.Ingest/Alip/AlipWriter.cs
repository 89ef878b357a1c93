using System.Buffers;
using System.Buffers.Text;
using System.Text;
using M2M.Ingest.Values;

namespace M2M.Ingest.Alip;

/// <summary>
/// Writes ALIP lines (server → device) to an <see cref="IBufferWriter{T}"/> (e.g. a <c>PipeWriter</c>): numbers with
/// <see cref="Utf8Formatter"/>, bytes copied, strings encoded straight into the output, no intermediate strings.
/// Every line ends with <c>\n</c>; text containing <c>\r</c> or <c>\n</c> is refused (it would break the framing).
/// </summary>
public static class AlipWriter
{
    private const int MaxNumberLength = 20;

    /// <summary><c>ID 1</c> (accepted) or <c>ID 0</c> (refused by policy).</summary>
    public static void WriteIdResult(IBufferWriter<byte> output, bool accepted) =>
        WriteRaw(output, accepted ? "ID 1\n"u8 : "ID 0\n"u8);

    /// <summary><c>ERR &lt;reason&gt;</c>.</summary>
    public static void WriteError(IBufferWriter<byte> output, string reason)
    {
        var w = new LineWriter(output, 4 + MaxUtf8(reason));
        w.Append("ERR "u8);
        w.Append(reason);
        w.End();
    }

    /// <summary><c>ERR &lt;reason&gt;</c> for a value that could not be decoded (<see cref="ValueErrors.Reason"/>).</summary>
    public static void WriteError(IBufferWriter<byte> output, ValueError error) => WriteError(output, ValueErrors.Reason(error));

    /// <summary><c>ERR Command "&lt;X&gt;" not understood</c>, with the keyword as the device sent it (CR/LF already stripped by the reader).</summary>
    public static void WriteCommandNotUnderstood(IBufferWriter<byte> output, ReadOnlySpan<byte> keyword)
    {
        var w = new LineWriter(output, keyword.Length + 32);
        w.Append("ERR Command \""u8);
        w.Append(keyword);
        w.Append("\" not understood"u8);
        w.End();
    }

    /// <summary><c>B &lt;token&gt;</c>: the answer to the device's barrier <c>A &lt;token&gt;</c>.</summary>
    public static void WriteBarrierAnswer(IBufferWriter<byte> output, ReadOnlySpan<byte> token) =>
        WriteKeywordAndBytes(output, "B "u8, token);

    /// <summary><c>A &lt;n&gt;</c>: the server's ping of a silent device.</summary>
    public static void WritePing(IBufferWriter<byte> output, long n) => WriteKeywordAndNumber(output, "A "u8, n);

    /// <summary><c>T &lt;unix seconds&gt;</c>.</summary>
    public static void WriteTime(IBufferWriter<byte> output, long unixSeconds) => WriteKeywordAndNumber(output, "T "u8, unixSeconds);

    /// <summary><c>S S &lt;name&gt; &lt;value&gt;</c>.</summary>
    public static void WriteSetting(IBufferWriter<byte> output, string name, string value)
    {
        var w = new LineWriter(output, 5 + MaxUtf8(name) + MaxUtf8(value));
        w.Append("S S "u8);
        w.Append(name);
        w.Append(" "u8);
        w.Append(value);
        w.End();
    }

    /// <summary><c>S S &lt;name&gt; &lt;value&gt;</c> from UTF-8 bytes.</summary>
    public static void WriteSetting(IBufferWriter<byte> output, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        var w = new LineWriter(output, 5 + name.Length + value.Length);
        w.Append("S S "u8);
        w.Append(name);
        w.Append(" "u8);
        w.Append(value);
        w.End();
    }

    /// <summary><c>S GA</c>: asks the device for every setting.</summary>
    public static void WriteSettingsGetAll(IBufferWriter<byte> output) => WriteRaw(output, "S GA\n"u8);

    /// <summary><c>C &lt;n&gt; &lt;text&gt;</c>: a pending command under the per-connection number <paramref name="n"/>.</summary>
    public static void WriteCommand(IBufferWriter<byte> output, long n, string text)
    {
        var w = new LineWriter(output, MaxNumberLength + 4 + MaxUtf8(text));
        w.Append("C "u8);
        w.Append(n);
        w.Append(" "u8);
        w.Append(text);
        w.End();
    }

    /// <summary><c>F N 1</c> (file found) or <c>F N 0</c>.</summary>
    public static void WriteFirmwareFound(IBufferWriter<byte> output, bool found) =>
        WriteRaw(output, found ? "F N 1\n"u8 : "F N 0\n"u8);

    /// <summary><c>F S &lt;size in bytes&gt;</c>.</summary>
    public static void WriteFirmwareSize(IBufferWriter<byte> output, long size) => WriteKeywordAndNumber(output, "F S "u8, size);

    /// <summary><c>F G &lt;offset&gt; &lt;hex&gt;</c>: the chunk is hex-encoded straight into the output.</summary>
    public static void WriteFirmwareChunk(IBufferWriter<byte> output, long offset, ReadOnlySpan<byte> chunk)
    {
        var length = 4 + MaxNumberLength + 1 + Hex.GetEncodedLength(chunk.Length) + 1;
        var span = output.GetSpan(length);
        "F G "u8.CopyTo(span);
        Utf8Formatter.TryFormat(offset, span[4..], out var n);
        var o = 4 + n;
        span[o++] = (byte)' ';
        o += Hex.Encode(chunk, span[o..]);
        span[o++] = (byte)'\n';
        output.Advance(o);
    }

    /// <summary><c>QUIT &lt;reason&gt;</c>.</summary>
    public static void WriteQuit(IBufferWriter<byte> output, string reason)
    {
        var w = new LineWriter(output, 5 + MaxUtf8(reason));
        w.Append("QUIT "u8);
        w.Append(reason);
        w.End();
    }

    /// <summary><c>D echo &lt;content&gt;</c>: the answer to a device's <c>D echo</c> record.</summary>
    public static void WriteEcho(IBufferWriter<byte> output, ReadOnlySpan<byte> content) =>
        WriteKeywordAndBytes(output, "D echo "u8, content);

    /// <summary><c>DB &lt;name&gt; &lt;value&gt;</c> (e.g. <c>DB ID &lt;deviceId&gt;</c>, <c>DB VERSION &lt;v&gt;</c>).</summary>
    public static void WriteDiagnostic(IBufferWriter<byte> output, string name, string value)
    {
        var w = new LineWriter(output, 4 + MaxUtf8(name) + MaxUtf8(value));
        w.Append("DB "u8);
        w.Append(name);
        w.Append(" "u8);
        w.Append(value);
        w.End();
    }

    /// <summary><c>DB &lt;name&gt; &lt;number&gt;</c> (e.g. <c>DB CONNECTED &lt;seconds&gt;</c>).</summary>
    public static void WriteDiagnostic(IBufferWriter<byte> output, string name, long value)
    {
        var w = new LineWriter(output, 4 + MaxUtf8(name) + MaxNumberLength);
        w.Append("DB "u8);
        w.Append(name);
        w.Append(" "u8);
        w.Append(value);
        w.End();
    }

    /// <summary><c>DB SOURCE &lt;remote&gt; &lt;connId&gt;</c>.</summary>
    public static void WriteDiagnosticSource(IBufferWriter<byte> output, string remote, long connectionId)
    {
        var w = new LineWriter(output, 11 + MaxUtf8(remote) + MaxNumberLength);
        w.Append("DB SOURCE "u8);
        w.Append(remote);
        w.Append(" "u8);
        w.Append(connectionId);
        w.End();
    }

    /// <summary><c>BEGIN LAST</c>: starts the answer to <c>DB LAST</c>.</summary>
    public static void WriteBeginLast(IBufferWriter<byte> output) => WriteRaw(output, "BEGIN LAST\n"u8);

    /// <summary><c>END</c>: ends the answer to <c>DB LAST</c>.</summary>
    public static void WriteEnd(IBufferWriter<byte> output) => WriteRaw(output, "END\n"u8);

    /// <summary>Any line: <paramref name="text"/> followed by <c>\n</c> (e.g. a record line of <c>DB LAST</c>).</summary>
    public static void WriteLine(IBufferWriter<byte> output, ReadOnlySpan<byte> text)
    {
        var w = new LineWriter(output, text.Length);
        w.Append(text);
        w.End();
    }

    private static void WriteKeywordAndBytes(IBufferWriter<byte> output, ReadOnlySpan<byte> keyword, ReadOnlySpan<byte> value)
    {
        var w = new LineWriter(output, keyword.Length + value.Length);
        w.Append(keyword);
        w.Append(value);
        w.End();
    }

    private static void WriteKeywordAndNumber(IBufferWriter<byte> output, ReadOnlySpan<byte> keyword, long value)
    {
        var w = new LineWriter(output, keyword.Length + MaxNumberLength);
        w.Append(keyword);
        w.Append(value);
        w.End();
    }

    private static void WriteRaw(IBufferWriter<byte> output, ReadOnlySpan<byte> line)
    {
        line.CopyTo(output.GetSpan(line.Length));
        output.Advance(line.Length);
    }

    private static int MaxUtf8(string text) => Encoding.UTF8.GetMaxByteCount(text.Length);

    /// <summary>Fills one line in a span of the output; nothing is advanced unless the line is complete and valid.</summary>
    private ref struct LineWriter
    {
        private readonly IBufferWriter<byte> _output;
        private readonly Span<byte> _span;
        private int _length;

        public LineWriter(IBufferWriter<byte> output, int maxContentLength)
        {
            _output = output;
            _span = output.GetSpan(maxContentLength + 1);
            _length = 0;
        }

        public void Append(scoped ReadOnlySpan<byte> bytes)
        {
            if (bytes.IndexOfAny((byte)'\r', (byte)'\n') >= 0)
            {
                throw new ArgumentException("An ALIP line cannot contain CR or LF.", nameof(bytes));
            }

            bytes.CopyTo(_span[_length..]);
            _length += bytes.Length;
        }

        public void Append(string text)
        {
            if (text.AsSpan().IndexOfAny('\r', '\n') >= 0)
            {
                throw new ArgumentException("An ALIP line cannot contain CR or LF.", nameof(text));
            }

            _length += Encoding.UTF8.GetBytes(text, _span[_length..]);
        }

        public void Append(long value)
        {
            Utf8Formatter.TryFormat(value, _span[_length..], out var n);
            _length += n;
        }

        public void End()
        {
            _span[_length++] = (byte)'\n';
            _output.Advance(_length);
        }
    }
}
