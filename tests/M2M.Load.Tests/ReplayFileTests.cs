using M2M.Load.Simulation;

namespace M2M.Load.Tests;

public sealed class ReplayFileTests
{
    [Fact]
    public void Lines_keep_commas_of_their_content_and_skip_header_comments_and_blanks()
    {
        var file = ReplayFile.Parse(
        [
            "time,type,content",
            "# a tracker going east",
            "",
            "1700000000,sen:loc,48.85,2.35,42,35",
            "1700000010,sen:temp,21.5",
            "2023-11-14T22:14:00Z,can,{\"rpm\":1800}",
        ]);
        Assert.Equal(3, file.Lines.Count);
        Assert.Equal(new ReplayLine(DateTimeOffset.FromUnixTimeSeconds(1700000000), "sen:loc", "48.85,2.35,42,35"), file.Lines[0]);
        Assert.Equal("21.5", file.Lines[1].Content);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1700000040), file.Lines[2].Time);
        Assert.Equal("{\"rpm\":1800}", file.Lines[2].Content);
        Assert.Equal(TimeSpan.FromSeconds(40), file.Span);
    }

    [Fact]
    public void Times_are_shifted_so_that_the_first_line_is_the_start()
    {
        var file = ReplayFile.Parse(["1700000000,a,1", "1700000005,a,2", "1700000009,a,3"]);
        var start = new DateTimeOffset(2026, 11, 28, 1, 0, 0, TimeSpan.Zero);
        Assert.Equal(start, file.ShiftedTime(0, start, 0));
        Assert.Equal(start.AddSeconds(5), file.ShiftedTime(1, start, 0));
        // the next round starts one span (plus a second, so the rounds' times never collide) later
        Assert.Equal(start.AddSeconds(10), file.ShiftedTime(0, start, 1));
        Assert.Equal(start.AddSeconds(19), file.ShiftedTime(2, start, 1));
    }

    [Theory]
    [InlineData("1700000000,sen:temp", "line 1")]
    [InlineData("yesterday,sen:temp,1", "line 1")]
    [InlineData("1700000000,sen temp,1", "line 1")]
    [InlineData("1700000000,sen:temp,", "line 1")]
    public void Malformed_lines_are_reported_with_their_number(string line, string expected)
    {
        var e = Assert.Throws<FormatException>(() => ReplayFile.Parse([line]));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Time_going_backwards_is_refused()
    {
        var e = Assert.Throws<FormatException>(() => ReplayFile.Parse(["1700000010,a,1", "# c", "1700000000,a,2"]));
        Assert.Contains("line 3", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_file_without_lines_is_refused()
    {
        Assert.Throws<FormatException>(() => ReplayFile.Parse(["time,type,content", "# nothing"]));
    }

    [Fact]
    public void Oversized_content_is_refused()
    {
        Assert.Throws<FormatException>(() => ReplayFile.Parse([$"1700000000,a,{new string('x', ReplayFile.MaxContentLength + 1)}"]));
    }
}
