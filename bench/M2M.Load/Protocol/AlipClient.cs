using System.Globalization;
using System.Text;
using System.Text.Unicode;

namespace M2M.Load.Protocol;

/// <summary>What a server line means to a device.</summary>
public enum AlipServerLineKind
{
    /// <summary><c>ID 1</c> / <c>ID 0</c>.</summary>
    Identification,

    /// <summary><c>B &lt;token&gt;</c>: a barrier answered.</summary>
    BarrierAnswer,

    /// <summary><c>A &lt;n&gt;</c>: the server pings (answer <c>B n</c>).</summary>
    ServerPing,

    /// <summary><c>S S &lt;name&gt; &lt;value&gt;</c>: a setting to apply and acknowledge.</summary>
    SetSetting,

    /// <summary><c>S GA</c>: report every setting.</summary>
    ReportAllSettings,

    /// <summary><c>C &lt;n&gt; &lt;text&gt;</c>: a command.</summary>
    Command,

    /// <summary><c>ERR &lt;reason&gt;</c>.</summary>
    Error,

    /// <summary><c>QUIT &lt;reason&gt;</c>: the server closes the connection.</summary>
    Quit,

    /// <summary>Anything else the device does not act on (<c>T</c>, <c>D echo</c>, …).</summary>
    Other,
}

/// <summary>One parsed server line; the spans point into the receive buffer.</summary>
public readonly ref struct AlipServerLine
{
    public AlipServerLine(AlipServerLineKind kind, ReadOnlySpan<byte> first, ReadOnlySpan<byte> second)
    {
        Kind = kind;
        First = first;
        Second = second;
    }

    public AlipServerLineKind Kind { get; }

    /// <summary>Identification: <c>1</c>/<c>0</c>; barrier/ping: the token; setting: the name; command: n; error/quit: the reason.</summary>
    public ReadOnlySpan<byte> First { get; }

    /// <summary>Setting: the value; command: the text.</summary>
    public ReadOnlySpan<byte> Second { get; }
}

/// <summary>The device side of ALIP (spec/alip.md): formats device lines and reads server lines.</summary>
public static class AlipClient
{
    /// <summary>The longest server line a device accepts.</summary>
    public const int MaxLineLength = 64 * 1024;

    /// <summary><c>ID &lt;ident&gt;\n</c></summary>
    public static int WriteIdent(Span<byte> destination, string ident) => Write(destination, $"ID {ident}\n");

    /// <summary><c>A &lt;token&gt;\n</c>: the delivery barrier.</summary>
    public static int WriteBarrier(Span<byte> destination, long token) => Write(destination, $"A {token}\n");

    /// <summary><c>B &lt;token&gt;\n</c>: the answer to a server ping (token copied as received).</summary>
    public static int WritePingAnswer(Span<byte> destination, ReadOnlySpan<byte> token)
    {
        "B "u8.CopyTo(destination);
        token.CopyTo(destination[2..]);
        destination[2 + token.Length] = (byte)'\n';
        return token.Length + 3;
    }

    /// <summary><c>E &lt;time&gt; L lat,lon,spd,alt\n</c>: a location stamped with its measurement time.</summary>
    public static int WriteLocation(Span<byte> destination, uint time, float lat, float lon, ushort speed, ushort altitude) =>
        Write(destination, $"E {time} L {lat:0.#####},{lon:0.#####},{speed},{altitude}\n");

    /// <summary><c>E &lt;time&gt; T &lt;value&gt;\n</c>: a temperature stamped with its measurement time.</summary>
    public static int WriteTemperature(Span<byte> destination, uint time, float celsius) =>
        Write(destination, $"E {time} T {celsius:0.0}\n");

    /// <summary><c>E &lt;time&gt; &lt;type&gt; &lt;content&gt;\n</c></summary>
    public static int WriteTimed(Span<byte> destination, uint time, string type, string content) =>
        Write(destination, $"E {time} {type} {content}\n");

    /// <summary><c>S A &lt;name&gt; &lt;value&gt;\n</c> (acknowledge) or <c>S S …</c> (report).</summary>
    public static int WriteSetting(Span<byte> destination, bool acknowledge, string name, string value) =>
        Write(destination, $"S {(acknowledge ? 'A' : 'S')} {name} {value}\n");

    /// <summary><c>C A &lt;n&gt;\n</c></summary>
    public static int WriteCommandAck(Span<byte> destination, ReadOnlySpan<byte> number)
    {
        "C A "u8.CopyTo(destination);
        number.CopyTo(destination[4..]);
        destination[4 + number.Length] = (byte)'\n';
        return number.Length + 5;
    }

    private static int Write(Span<byte> destination, [System.Runtime.CompilerServices.InterpolatedStringHandlerArgument(nameof(destination))] ref Utf8.TryWriteInterpolatedStringHandler handler)
    {
        if (!Utf8.TryWrite(destination, ref handler, out var written))
        {
            throw new ArgumentException("The buffer is too small for the line.", nameof(destination));
        }
        return written;
    }

    /// <summary>
    /// Finds the first complete line (<c>\n</c>-terminated, trailing <c>\r</c> dropped).
    /// <c>false</c> = no complete line yet.
    /// </summary>
    /// <exception cref="ClientProtocolException">A line longer than <see cref="MaxLineLength"/>.</exception>
    public static bool TryReadLine(ReadOnlySpan<byte> buffer, out ReadOnlySpan<byte> line, out int consumed)
    {
        var end = buffer.IndexOf((byte)'\n');
        if (end < 0)
        {
            if (buffer.Length > MaxLineLength)
            {
                ClientProtocolException.Throw("server line too long");
            }
            line = default;
            consumed = 0;
            return false;
        }
        consumed = end + 1;
        line = buffer[..end];
        if (!line.IsEmpty && line[^1] == (byte)'\r')
        {
            line = line[..^1];
        }
        return true;
    }

    // Server lines (grammar from spec/alip.md, server → device):
    //   ID 1 | ID 0 | B <token> | A <n> | S S <name> <value> | S GA | C <n> <text> | ERR <reason> | QUIT <reason>
    public static AlipServerLine Parse(ReadOnlySpan<byte> line)
    {
        var space = line.IndexOf((byte)' ');
        var command = space < 0 ? line : line[..space];
        var rest = space < 0 ? default : line[(space + 1)..];

        if (command.SequenceEqual("ID"u8))
        {
            return new(AlipServerLineKind.Identification, rest, default);
        }
        if (command.SequenceEqual("B"u8))
        {
            return new(AlipServerLineKind.BarrierAnswer, rest, default);
        }
        if (command.SequenceEqual("A"u8))
        {
            return new(AlipServerLineKind.ServerPing, rest, default);
        }
        if (command.SequenceEqual("ERR"u8))
        {
            return new(AlipServerLineKind.Error, rest, default);
        }
        if (command.SequenceEqual("QUIT"u8))
        {
            return new(AlipServerLineKind.Quit, rest, default);
        }
        if (command.SequenceEqual("C"u8))
        {
            var s = rest.IndexOf((byte)' ');
            var number = s < 0 ? rest : rest[..s];
            if (!IsDigits(number))
            {
                ClientProtocolException.Throw("command line without a number");
            }
            return new(AlipServerLineKind.Command, number, s < 0 ? default : rest[(s + 1)..]);
        }
        if (command.SequenceEqual("S"u8))
        {
            if (rest.SequenceEqual("GA"u8))
            {
                return new(AlipServerLineKind.ReportAllSettings, default, default);
            }
            if (rest.StartsWith("S "u8))
            {
                var nameValue = rest[2..];
                var s = nameValue.IndexOf((byte)' ');
                if (s <= 0)
                {
                    ClientProtocolException.Throw("setting line without a value");
                }
                return new(AlipServerLineKind.SetSetting, nameValue[..s], nameValue[(s + 1)..]);
            }
        }
        return new(AlipServerLineKind.Other, line, default);
    }

    private static bool IsDigits(ReadOnlySpan<byte> text)
    {
        if (text.IsEmpty)
        {
            return false;
        }
        foreach (var b in text)
        {
            if (b is < (byte)'0' or > (byte)'9')
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>Text of a span, for the rare paths (settings, errors).</summary>
    public static string Text(ReadOnlySpan<byte> utf8) => Encoding.UTF8.GetString(utf8);

    /// <summary>Parses a token written by <see cref="WriteBarrier"/>.</summary>
    public static bool TryParseToken(ReadOnlySpan<byte> text, out long token) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out token);
}
