using System.Buffers;
using System.Globalization;
using System.Text;
using BenchmarkDotNet.Attributes;
using M2M.Ingest.Alip;
using M2M.Ingest.Values;

namespace M2M.Benchmarks;

/// <summary>
/// ALIP line reading of one buffer of identical lines, just under 64 KiB: times are per buffer
/// (DLocation: 2427 lines of 27 B, 65529 B; ETemperature: 3276 lines of 20 B, 65520 B; JCan: 1424 lines of 46 B, 65504 B).
/// Expected allocation: 0 B per line for <see cref="Read"/>; <see cref="ReadAndDecode"/> allocates nothing for
/// <c>D L</c> and <c>E … T …</c>, and one string per line for <c>J … can …</c> (an unknown type is stored under its own
/// name, which is a new string). The baseline only looks for the <c>\n</c> delimiters.
/// </summary>
[MemoryDiagnoser]
public class AlipReaderBenchmarks
{
    private const int BufferSize = 64 * 1024;

    private readonly AlipLineReader _reader = new();
    private ReadOnlySequence<byte> _input;
    private byte[] _bytes = [];

    public enum LineKind
    {
        /// <summary><c>D L 48.85661,2.35222,42,35</c></summary>
        DLocation,

        /// <summary><c>E 1700000000 T 21.5</c></summary>
        ETemperature,

        /// <summary><c>J 20231114221320 can {"rpm":1800,"fuel":41.5}</c></summary>
        JCan,
    }

    [Params(LineKind.DLocation, LineKind.ETemperature, LineKind.JCan)]
    public LineKind Kind { get; set; }

    [Params(InputShape.SingleSegment, InputShape.Segments128B)]
    public InputShape Shape { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var line = Encoding.ASCII.GetBytes(Kind switch
        {
            LineKind.DLocation => "D L 48.85661,2.35222,42,35\n",
            LineKind.ETemperature => "E 1700000000 T 21.5\n",
            _ => "J 20231114221320 can {\"rpm\":1800,\"fuel\":41.5}\n",
        });
        var count = BufferSize / line.Length;
        _bytes = new byte[count * line.Length];
        for (var i = 0; i < count; i++)
        {
            line.CopyTo(_bytes, i * line.Length);
        }

        _input = Segment.Create(_bytes, Shape);
        if (Read() != Baseline())
        {
            throw new InvalidOperationException("The reader and the baseline disagree.");
        }
    }

    /// <summary>Finds every <c>\n</c> in the contiguous bytes (vectorised IndexOf): the floor for any line reader.</summary>
    [Benchmark(Baseline = true)]
    public long Baseline()
    {
        var span = _bytes.AsSpan();
        long lines = 0;
        int newline;
        while ((newline = span.IndexOf((byte)'\n')) >= 0)
        {
            lines++;
            span = span[(newline + 1)..];
        }

        return lines;
    }

    /// <summary>Reads every line and recognises its command. Expected: 0 B.</summary>
    [Benchmark]
    public long Read()
    {
        var reader = new SequenceReader<byte>(_input);
        long lines = 0;
        while (_reader.TryRead(ref reader, out var line))
        {
            if (line.Command != AlipCommand.Unknown)
            {
                lines++;
            }
        }

        return lines;
    }

    /// <summary>
    /// Reads every line and applies the session's line rule (<see cref="DeviceText.CheckLine"/>: no control character,
    /// valid UTF-8) before recognising its command: the cost of refusing bad lines with <c>ERR</c>. Expected: 0 B.
    /// </summary>
    [Benchmark]
    public long ReadAndCheck()
    {
        var reader = new SequenceReader<byte>(_input);
        long lines = 0;
        while (_reader.TryRead(ref reader, out var line))
        {
            if (DeviceText.CheckLine(line.Text) == ValueError.None && line.Command != AlipCommand.Unknown)
            {
                lines++;
            }
        }

        return lines;
    }

    /// <summary>
    /// Reads, tokenizes and decodes every line as a session would: time (<c>E</c>, <c>J</c>), type mapping, and the
    /// location of <c>D L</c>. Expected: 0 B for DLocation and ETemperature; one type string per line for JCan.
    /// </summary>
    [Benchmark]
    public long ReadAndDecode()
    {
        var reader = new SequenceReader<byte>(_input);
        long sum = 0;
        while (_reader.TryRead(ref reader, out var line))
        {
            var tokens = line.GetTokens();
            if (line.Command is AlipCommand.E or AlipCommand.J && tokens.TryNext(out var time) && AlipTime.TryParse(time, out var unix) == ValueError.None)
            {
                sum += unix & 1;
            }

            if (tokens.TryNext(out var type))
            {
                var mapped = AlipDataType.Map(type);
                tokens.TryReadRest(out var content);
                if (mapped.Kind == AlipDataKind.Location && Location.TryParseAlipL(content, out var location) == ValueError.None)
                {
                    sum += (long)location.Latitude;
                }

                sum += content.Length;
            }
        }

        return sum;
    }
    /// <summary>
    /// <see cref="ReadAndDecode"/> with the location numbers parsed as before <see cref="DecimalText"/>: the grammar
    /// checked by hand, then <see cref="double.TryParse(ReadOnlySpan{byte}, NumberStyles, IFormatProvider, out double)"/>
    /// (a copy of the old code, kept as the same-run baseline of the decimal parser). Differs only for <c>D L</c>.
    /// </summary>
    [Benchmark]
    public long ReadAndDecodeDoubleParse()
    {
        var reader = new SequenceReader<byte>(_input);
        long sum = 0;
        while (_reader.TryRead(ref reader, out var line))
        {
            var tokens = line.GetTokens();
            if (line.Command is AlipCommand.E or AlipCommand.J && tokens.TryNext(out var time) && AlipTime.TryParse(time, out var unix) == ValueError.None)
            {
                sum += unix & 1;
            }

            if (tokens.TryNext(out var type))
            {
                var mapped = AlipDataType.Map(type);
                tokens.TryReadRest(out var content);
                if (mapped.Kind == AlipDataKind.Location && DoubleParseLocation.TryParsePosition(content, out var latitude))
                {
                    sum += (long)latitude;
                }

                sum += content.Length;
            }
        }

        return sum;
    }

    /// <summary>The position parsing of <c>Location.TryParseAlipL</c> before <see cref="DecimalText"/> (comma split, grammar, double.TryParse).</summary>
    private static class DoubleParseLocation
    {
        public static bool TryParsePosition(ReadOnlySpan<byte> content, out double latitude)
        {
            latitude = 0;
            Span<double> values = stackalloc double[4];
            var count = 0;
            while (true)
            {
                var comma = content.IndexOf((byte)',');
                var field = comma < 0 ? content : content[..comma];
                if (count == 4 || !TryParseDecimal(field, out values[count]))
                {
                    return false;
                }

                count++;
                if (comma < 0)
                {
                    break;
                }

                content = content[(comma + 1)..];
            }

            latitude = values[0];
            return count >= 2 && double.IsFinite(values[0]) && double.IsFinite(values[1]) && Math.Abs(values[0]) <= 90 && Math.Abs(values[1]) <= 180;
        }

        private static bool TryParseDecimal(ReadOnlySpan<byte> field, out double value)
        {
            value = 0;
            var body = field;
            if (!body.IsEmpty && (body[0] == (byte)'-' || body[0] == (byte)'+'))
            {
                body = body[1..];
            }

            var digits = 0;
            var dots = 0;
            foreach (var c in body)
            {
                if (c == (byte)'.')
                {
                    dots++;
                }
                else if (c - (uint)'0' <= 9)
                {
                    digits++;
                }
                else
                {
                    return false;
                }
            }

            return digits > 0 && dots <= 1 && digits <= 40
                && double.TryParse(field, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out value);
        }
    }
}
