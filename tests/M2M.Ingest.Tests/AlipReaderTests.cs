using System.Buffers;
using System.Text;
using M2M.Ingest.Alip;

namespace M2M.Ingest.Tests;

public sealed class AlipReaderTests
{
    private const string Session =
        "ID imei:35412345678\n" +
        "S S gps_period 60\n" +
        "D L 48.85661,2.35222,42,35\n" +
        "E 1700000000 T 21.5\n" +
        "J 20231114221320 can {\"rpm\":1800,\"fuel\":41.5}\n" +
        "A 1\n" +
        "QUIT\n";

    private static readonly string[] SessionLines =
    [
        "Id|ID imei:35412345678",
        "S|S S gps_period 60",
        "D|D L 48.85661,2.35222,42,35",
        "E|E 1700000000 T 21.5",
        "J|J 20231114221320 can {\"rpm\":1800,\"fuel\":41.5}",
        "A|A 1",
        "Quit|QUIT",
    ];

    [Fact]
    public void Spec_example_session_reads_as_its_lines()
    {
        Assert.Equal(SessionLines, AlipTestReader.ReadAll(Encoding.ASCII.GetBytes(Session)));
    }

    [Fact]
    public void Every_split_of_the_example_session_gives_the_same_lines()
    {
        var data = Encoding.ASCII.GetBytes(Session);
        foreach (var split in TestSequenceSegment.AllSplits(data))
        {
            var lines = AlipTestReader.ReadAll(new AlipLineReader(), split, out var consumed);
            Assert.Equal(SessionLines, lines);
            Assert.Equal(data.Length, consumed);
        }
    }

    [Fact]
    public void Every_truncated_prefix_gives_only_the_complete_lines()
    {
        var data = Encoding.ASCII.GetBytes(Session);
        for (var length = 0; length <= data.Length; length++)
        {
            var complete = data.AsSpan(0, length).Count((byte)'\n');
            var lines = AlipTestReader.ReadAll(new AlipLineReader(), TestSequenceSegment.RandomSplit(data[..length], new Random(length), 3), out var consumed);
            Assert.Equal(SessionLines.Take(complete), lines);
            Assert.Equal(complete == 0 ? 0 : data.AsSpan(0, length).LastIndexOf((byte)'\n') + 1, consumed);
        }
    }

    [Fact]
    public void Example_session_line_fields_tokenize()
    {
        var data = Encoding.ASCII.GetBytes("E 1700000000 T 21.5 and more\n");
        var sequenceReader = new SequenceReader<byte>(new ReadOnlySequence<byte>(data));
        Assert.True(new AlipLineReader().TryRead(ref sequenceReader, out var line));
        Assert.Equal(AlipCommand.E, line.Command);
        var tokens = line.GetTokens();
        Assert.True(tokens.TryNext(out var time));
        Assert.Equal("1700000000"u8, time);
        Assert.True(tokens.TryNext(out var type));
        Assert.Equal("T"u8, type);
        Assert.Equal("21.5 and more"u8, tokens.Rest);
        Assert.True(tokens.TryReadRest(out var content));
        Assert.Equal("21.5 and more"u8, content);
        Assert.False(tokens.TryNext(out _));
    }

    [Fact]
    public void Tokenizer_splits_on_single_spaces()
    {
        var tokens = new AlipTokenizer("a  b "u8);
        var all = new List<string>();
        while (tokens.TryNext(out var token))
        {
            all.Add(Encoding.ASCII.GetString(token));
        }

        Assert.Equal(["a", "", "b", ""], all);
        Assert.False(new AlipTokenizer(default).TryNext(out _));
    }

    [Theory]
    [InlineData("ID x", AlipCommand.Id)]
    [InlineData("D T 1", AlipCommand.D)]
    [InlineData("E", AlipCommand.E)]
    [InlineData("J", AlipCommand.J)]
    [InlineData("A 1", AlipCommand.A)]
    [InlineData("B 1", AlipCommand.B)]
    [InlineData("T", AlipCommand.T)]
    [InlineData("S GA", AlipCommand.S)]
    [InlineData("C L", AlipCommand.C)]
    [InlineData("F S", AlipCommand.F)]
    [InlineData("QUIT", AlipCommand.Quit)]
    [InlineData("DB ID", AlipCommand.Db)]
    [InlineData("id x", AlipCommand.Unknown)]
    [InlineData("QUITX", AlipCommand.Unknown)]
    [InlineData("IDX", AlipCommand.Unknown)]
    [InlineData("X", AlipCommand.Unknown)]
    [InlineData("", AlipCommand.Unknown)]
    [InlineData(" D", AlipCommand.Unknown)]
    public void Command_keyword_is_recognised_exactly(string text, AlipCommand expected)
    {
        var lines = AlipTestReader.ReadAll(Encoding.ASCII.GetBytes(text + "\n"));
        Assert.Equal($"{expected}|{text}", Assert.Single(lines));
    }

    [Fact]
    public void Keyword_and_content_are_split_at_the_first_space()
    {
        var sequenceReader = new SequenceReader<byte>(new ReadOnlySequence<byte>("FOO bar baz\r\n"u8.ToArray()));
        Assert.True(new AlipLineReader().TryRead(ref sequenceReader, out var line));
        Assert.Equal("FOO"u8, line.Keyword);
        Assert.Equal("bar baz"u8, line.Content);
        Assert.True(line.HasContent);
    }

    [Theory]
    [InlineData("T\r\n", "T|T")]
    [InlineData("T\r\r\n", "Unknown|T\r")]
    [InlineData("\r\n", "Unknown|")]
    [InlineData("\n", "Unknown|")]
    [InlineData("D T a\rb\n", "D|D T a\rb")]
    public void Only_one_trailing_carriage_return_is_dropped(string text, string expected)
    {
        Assert.Equal(expected, Assert.Single(AlipTestReader.ReadAll(Encoding.Latin1.GetBytes(text))));
    }

    [Fact]
    public void Nul_bytes_and_invalid_utf8_are_passed_through_as_bytes()
    {
        byte[] data = [(byte)'D', (byte)' ', (byte)'T', (byte)' ', 0x00, 0xFF, 0xC3, 0x28, (byte)'\n'];
        var sequenceReader = new SequenceReader<byte>(new ReadOnlySequence<byte>(data));
        Assert.True(new AlipLineReader().TryRead(ref sequenceReader, out var line));
        Assert.Equal(AlipCommand.D, line.Command);
        Assert.Equal(data[2..^1], line.Content.ToArray());
    }

    [Theory]
    [InlineData(32, "\n", false)]
    [InlineData(32, "\r\n", false)]
    [InlineData(33, "\n", true)]
    [InlineData(33, "\r\n", true)]
    public void Line_of_the_maximum_length_is_accepted_and_one_byte_more_is_refused(int length, string end, bool tooLong)
    {
        var text = new string('x', length);
        foreach (var split in TestSequenceSegment.AllSplits(Encoding.ASCII.GetBytes(text + end)))
        {
            var line = Assert.Single(AlipTestReader.ReadAll(split, 32));
            Assert.Equal(tooLong ? "<too long>" : $"Unknown|{text}", line);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(40)]
    [InlineData(1000)]
    public void Over_long_line_is_reported_once_and_the_next_line_is_read(int chunk)
    {
        const int max = 32;
        var data = Encoding.ASCII.GetBytes("T\n" + new string('y', 500) + "\r\nA 7\n" + new string('z', 33) + "\nB 8\n");
        string[] expected = ["T|T", "<too long>", "A|A 7", "<too long>", "B|B 8"];
        Assert.Equal(expected, AlipTestReader.ReadAll(data, max));
        Assert.Equal(expected, AlipTestReader.ReadChunked(data, chunk, max, out var maxBuffered));
        Assert.True(maxBuffered <= max + 2 + chunk, $"{maxBuffered} bytes were left buffered.");
        foreach (var split in TestSequenceSegment.AllSplits(data[..80]))
        {
            Assert.Equal(expected[..2], AlipTestReader.ReadAll(split, max));
        }
    }

    [Fact]
    public void Ten_MiB_line_without_newline_is_discarded_as_it_arrives()
    {
        const int chunk = 64 * 1024;
        var reader = new AlipLineReader();
        var junk = new byte[chunk];
        Array.Fill(junk, (byte)'x');
        var lines = new List<string>();
        var buffered = Array.Empty<byte>();
        for (var sent = 0; sent < 10 * 1024 * 1024; sent += chunk)
        {
            // The pipe holds what was not consumed plus the new chunk.
            var input = buffered.Concat(junk).ToArray();
            lines.AddRange(AlipTestReader.ReadAll(reader, new ReadOnlySequence<byte>(input), out var consumed));
            buffered = input[(int)consumed..];
            Assert.True(buffered.Length <= AlipLineReader.DefaultMaxLineLength + 2, $"{buffered.Length} bytes left buffered.");
        }

        Assert.Equal(["<too long>"], lines);
        Assert.True(reader.IsDiscarding);
        Assert.Equal(1, reader.LinesTooLong);

        lines.AddRange(AlipTestReader.ReadAll(reader, new ReadOnlySequence<byte>("xx\nT\n"u8.ToArray()), out _));
        Assert.Equal(["<too long>", "T|T"], lines);
        Assert.False(reader.IsDiscarding);
    }

    [Fact]
    public void Incomplete_line_leaves_everything_unconsumed_and_examined()
    {
        var input = new ReadOnlySequence<byte>("D T 21"u8.ToArray());
        var consumed = input.Start;
        var examined = input.Start;
        Assert.False(new AlipLineReader().TryParseMessage(input, ref consumed, ref examined, out _));
        Assert.Equal(input.Start, consumed);
        Assert.Equal(input.End, examined);
    }

    [Theory]
    [InlineData(60)]
    [InlineData(61)]
    [InlineData(62)]
    public void Random_line_streams_give_the_same_lines_for_every_delivery(int seed)
    {
        var random = new Random(seed);
        var text = new StringBuilder();
        for (var i = 0; i < 200; i++)
        {
            var length = random.Next(10) == 0 ? random.Next(60, 200) : random.Next(0, 40);
            for (var j = 0; j < length; j++)
            {
                text.Append((char)random.Next(0x20, 0x7F));
            }

            text.Append(random.Next(3) == 0 ? "\r\n" : "\n");
        }

        var data = Encoding.ASCII.GetBytes(text.ToString());
        var expected = AlipTestReader.ReadAll(data, 50);
        Assert.Equal(200, expected.Count);
        for (var i = 0; i < 40; i++)
        {
            Assert.Equal(expected, AlipTestReader.ReadAll(TestSequenceSegment.RandomSplit(data, random, random.Next(1, 100)), 50));
            Assert.Equal(expected, AlipTestReader.ReadChunked(data, random.Next(1, 300), 50, out _));
        }
    }
}
