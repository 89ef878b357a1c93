using System.Globalization;

namespace M2M.Load.Simulation;

/// <summary>One line of a replay file: the original time, the stored record type and its content.</summary>
public sealed record ReplayLine(DateTimeOffset Time, string Type, string Content);

/// <summary>
/// A CSV of <c>time,type,content</c> lines to replay, time-shifted so that the first line is now.
/// <c>time</c> is unix seconds or ISO 8601; <c>content</c> is the rest of the line (it may hold
/// commas, e.g. <c>48.85,2.35,42,35</c> for <c>sen:loc</c>). Blank lines, <c>#</c> comments and a
/// <c>time,type,content</c> header are skipped. Lines must be in time order.
/// </summary>
public sealed class ReplayFile
{
    /// <summary>Longest content of a line (a device record, not a file upload).</summary>
    public const int MaxContentLength = 4000;

    private ReplayFile(IReadOnlyList<ReplayLine> lines) => Lines = lines;

    public IReadOnlyList<ReplayLine> Lines { get; }

    /// <summary>From the first line to the last.</summary>
    public TimeSpan Span => Lines.Count == 0 ? TimeSpan.Zero : Lines[^1].Time - Lines[0].Time;

    public static ReplayFile Load(string path) => Parse(File.ReadLines(path));

    /// <exception cref="FormatException">A line that is not <c>time,type,content</c> (with its line number), or lines out of time order.</exception>
    public static ReplayFile Parse(IEnumerable<string> text)
    {
        var lines = new List<ReplayLine>();
        var number = 0;
        foreach (var raw in text)
        {
            number++;
            var line = raw.Trim();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }
            var first = line.IndexOf(',', StringComparison.Ordinal);
            var second = first < 0 ? -1 : line.IndexOf(',', first + 1);
            if (second < 0)
            {
                throw new FormatException($"line {number}: expected time,type,content.");
            }
            var timeText = line[..first].Trim();
            var type = line[(first + 1)..second].Trim();
            var content = line[(second + 1)..].Trim();
            if (lines.Count == 0 && timeText.Equals("time", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }
            if (!TryParseTime(timeText, out var time))
            {
                throw new FormatException($"line {number}: '{timeText}' is neither unix seconds nor an ISO 8601 time.");
            }
            if (type.Length == 0 || type.Contains(' ', StringComparison.Ordinal))
            {
                throw new FormatException($"line {number}: the type must be one word.");
            }
            if (content.Length == 0)
            {
                throw new FormatException($"line {number}: empty content.");
            }
            if (content.Length > MaxContentLength)
            {
                throw new FormatException($"line {number}: content longer than {MaxContentLength} characters.");
            }
            if (lines.Count > 0 && time < lines[^1].Time)
            {
                throw new FormatException($"line {number}: time goes backwards.");
            }
            lines.Add(new ReplayLine(time, type, content));
        }
        if (lines.Count == 0)
        {
            throw new FormatException("the replay file holds no line.");
        }
        return new ReplayFile(lines);
    }

    private static bool TryParseTime(string text, out DateTimeOffset time)
    {
        if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) && seconds <= uint.MaxValue)
        {
            time = DateTimeOffset.FromUnixTimeSeconds(seconds);
            return true;
        }
        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out time);
    }

    /// <summary>
    /// The time a line is replayed at: <paramref name="start"/> plus its offset from the first line,
    /// plus one file span per completed <paramref name="round"/> (with <c>--replay-loop</c>).
    /// </summary>
    public DateTimeOffset ShiftedTime(int index, DateTimeOffset start, int round) =>
        start + (Lines[index].Time - Lines[0].Time) + round * (Span + TimeSpan.FromSeconds(1));
}
