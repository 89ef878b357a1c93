using System.Buffers;
using System.Text;
using M2M.Ingest.Alip;
using M2M.Ingest.Values;

namespace M2M.Ingest.Tests;

public sealed class AlipWriterTests
{
    [Fact]
    public void Each_response_line_is_written_exactly()
    {
        Assert.Equal("ID 1\n", Write(w => AlipWriter.WriteIdResult(w, true)));
        Assert.Equal("ID 0\n", Write(w => AlipWriter.WriteIdResult(w, false)));
        Assert.Equal("ERR Invalid identification\n", Write(w => AlipWriter.WriteError(w, "Invalid identification")));
        Assert.Equal("ERR Invalid time\n", Write(w => AlipWriter.WriteError(w, ValueError.InvalidTime)));
        Assert.Equal("ERR Command \"XYZ\" not understood\n", Write(w => AlipWriter.WriteCommandNotUnderstood(w, "XYZ"u8)));
        Assert.Equal("B 1\n", Write(w => AlipWriter.WriteBarrierAnswer(w, "1"u8)));
        Assert.Equal("A 42\n", Write(w => AlipWriter.WritePing(w, 42)));
        Assert.Equal("T 1700000000\n", Write(w => AlipWriter.WriteTime(w, 1700000000)));
        Assert.Equal("S S gps_period 60\n", Write(w => AlipWriter.WriteSetting(w, "gps_period", "60")));
        Assert.Equal("S S gps_period 60\n", Write(w => AlipWriter.WriteSetting(w, "gps_period"u8, "60"u8)));
        Assert.Equal("S GA\n", Write(AlipWriter.WriteSettingsGetAll));
        Assert.Equal("C 3 reboot now\n", Write(w => AlipWriter.WriteCommand(w, 3, "reboot now")));
        Assert.Equal("F N 1\n", Write(w => AlipWriter.WriteFirmwareFound(w, true)));
        Assert.Equal("F N 0\n", Write(w => AlipWriter.WriteFirmwareFound(w, false)));
        Assert.Equal("F S 123456\n", Write(w => AlipWriter.WriteFirmwareSize(w, 123456)));
        Assert.Equal("F G 4096 00ff10ab\n", Write(w => AlipWriter.WriteFirmwareChunk(w, 4096, [0x00, 0xFF, 0x10, 0xAB])));
        Assert.Equal("F G 0 \n", Write(w => AlipWriter.WriteFirmwareChunk(w, 0, [])));
        Assert.Equal("QUIT bye\n", Write(w => AlipWriter.WriteQuit(w, "bye")));
        Assert.Equal("D echo hello world\n", Write(w => AlipWriter.WriteEcho(w, "hello world"u8)));
        Assert.Equal("DB ID 0f3a\n", Write(w => AlipWriter.WriteDiagnostic(w, "ID", "0f3a")));
        Assert.Equal("DB CONNECTED 75\n", Write(w => AlipWriter.WriteDiagnostic(w, "CONNECTED", 75)));
        Assert.Equal("DB SOURCE 10.0.0.1:5000 17\n", Write(w => AlipWriter.WriteDiagnosticSource(w, "10.0.0.1:5000", 17)));
        Assert.Equal("BEGIN LAST\n", Write(AlipWriter.WriteBeginLast));
        Assert.Equal("END\n", Write(AlipWriter.WriteEnd));
        Assert.Equal("x y\n", Write(w => AlipWriter.WriteLine(w, "x y"u8)));
    }

    [Fact]
    public void Spec_example_server_lines_are_written_exactly()
    {
        var output = new ArrayBufferWriter<byte>();
        AlipWriter.WriteIdResult(output, true);
        AlipWriter.WriteSettingsGetAll(output);
        AlipWriter.WriteBarrierAnswer(output, "1"u8);
        AlipWriter.WriteQuit(output, "bye");
        Assert.Equal("ID 1\nS GA\nB 1\nQUIT bye\n", Encoding.ASCII.GetString(output.WrittenSpan));
    }

    [Fact]
    public void Firmware_chunk_hex_decodes_back_to_the_chunk()
    {
        var chunk = new byte[4096];
        new Random(70).NextBytes(chunk);
        var output = new ArrayBufferWriter<byte>();
        AlipWriter.WriteFirmwareChunk(output, 8192, chunk);
        var sequenceReader = new SequenceReader<byte>(new ReadOnlySequence<byte>(output.WrittenMemory));
        Assert.True(new AlipLineReader(16384).TryRead(ref sequenceReader, out var line));
        var tokens = line.GetTokens();
        Assert.True(tokens.TryNext(out var g));
        Assert.Equal("G"u8, g);
        Assert.True(tokens.TryNext(out var offset));
        Assert.Equal("8192"u8, offset);
        Assert.True(tokens.TryNext(out var hex));
        var decoded = new byte[4096];
        Assert.Equal(ValueError.None, Hex.TryDecode(hex, decoded, out var written));
        Assert.Equal(4096, written);
        Assert.Equal(chunk, decoded);
    }

    [Theory]
    [InlineData("a\nb")]
    [InlineData("a\rb")]
    public void Text_with_a_line_break_is_refused_and_nothing_is_written(string text)
    {
        var output = new ArrayBufferWriter<byte>();
        Assert.Throws<ArgumentException>(() => AlipWriter.WriteCommand(output, 1, text));
        Assert.Throws<ArgumentException>(() => AlipWriter.WriteError(output, text));
        Assert.Throws<ArgumentException>(() => AlipWriter.WriteEcho(output, Encoding.ASCII.GetBytes(text)));
        Assert.Equal(0, output.WrittenCount);
    }

    [Theory]
    [InlineData(80)]
    [InlineData(81)]
    public void Random_server_lines_encode_then_decode_to_the_original(int seed)
    {
        var random = new Random(seed);
        var output = new ArrayBufferWriter<byte>();
        var expected = new List<(AlipCommand Command, string[] Tokens)>();
        for (var i = 0; i < 500; i++)
        {
            var word = RandomWord(random);
            var number = random.NextInt64(0, long.MaxValue);
            switch (random.Next(8))
            {
                case 0:
                    AlipWriter.WriteSetting(output, word, RandomWord(random) + " with spaces");
                    expected.Add((AlipCommand.S, ["S", word]));
                    break;
                case 1:
                    AlipWriter.WriteCommand(output, number, "do " + word);
                    expected.Add((AlipCommand.C, [number.ToString(System.Globalization.CultureInfo.InvariantCulture), "do", word]));
                    break;
                case 2:
                    AlipWriter.WriteTime(output, number);
                    expected.Add((AlipCommand.T, [number.ToString(System.Globalization.CultureInfo.InvariantCulture)]));
                    break;
                case 3:
                    AlipWriter.WriteBarrierAnswer(output, Encoding.UTF8.GetBytes(word));
                    expected.Add((AlipCommand.B, [word]));
                    break;
                case 4:
                    AlipWriter.WritePing(output, number);
                    expected.Add((AlipCommand.A, [number.ToString(System.Globalization.CultureInfo.InvariantCulture)]));
                    break;
                case 5:
                    AlipWriter.WriteFirmwareSize(output, number);
                    expected.Add((AlipCommand.F, ["S", number.ToString(System.Globalization.CultureInfo.InvariantCulture)]));
                    break;
                case 6:
                    AlipWriter.WriteEcho(output, Encoding.UTF8.GetBytes(word));
                    expected.Add((AlipCommand.D, ["echo", word]));
                    break;
                default:
                    AlipWriter.WriteQuit(output, word);
                    expected.Add((AlipCommand.Quit, [word]));
                    break;
            }
        }

        var data = output.WrittenSpan.ToArray();
        var reader = new AlipLineReader();
        var sequenceReader = new SequenceReader<byte>(TestSequenceSegment.RandomSplit(data, random, 50));
        foreach (var (command, tokens) in expected)
        {
            Assert.True(reader.TryRead(ref sequenceReader, out var line));
            Assert.Equal(command, line.Command);
            var tokenizer = line.GetTokens();
            foreach (var token in tokens)
            {
                Assert.True(tokenizer.TryNext(out var actual));
                Assert.Equal(token, Encoding.UTF8.GetString(actual));
            }
        }

        Assert.False(reader.TryRead(ref sequenceReader, out _));
    }

    private static string RandomWord(Random random)
    {
        var chars = new char[random.Next(1, 12)];
        for (var i = 0; i < chars.Length; i++)
        {
            chars[i] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:=.é"[random.Next(66)];
        }

        return new string(chars);
    }

    private static string Write(Action<ArrayBufferWriter<byte>> write)
    {
        var output = new ArrayBufferWriter<byte>();
        write(output);
        return Encoding.UTF8.GetString(output.WrittenSpan);
    }
}
