using System.Text.RegularExpressions;

namespace M2M.Fuzz.Live;

/// <summary>
/// What the server's console log says about a fuzzing run: sessions that ended on an internal error
/// (the session's own "Session error; closing" / "Session work … failed; closing" / "Session failed"
/// lines, by protocol and exception), other error entries, and signs of a crash. Reads the default
/// console format (<c>fail: Category[id]</c> then indented lines) and the single-line one.
/// </summary>
internal sealed partial class ServerLog
{
    public Dictionary<string, long> InternalErrors { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, long> OtherErrors { get; } = new(StringComparer.Ordinal);

    public List<string> CrashSigns { get; } = [];

    public long InternalErrorCount => InternalErrors.Values.Sum();

    /// <summary>Reads the log from <paramref name="offset"/> (the size it had when the run started).</summary>
    public static ServerLog Read(string path, long offset)
    {
        var log = new ServerLog();
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        stream.Seek(Math.Min(offset, stream.Length), SeekOrigin.Begin);
        using var reader = new StreamReader(stream);
        var lines = new List<string>();
        while (reader.ReadLine() is { } line)
        {
            lines.Add(line);
        }
        for (var i = 0; i < lines.Count; i++)
        {
            var line = lines[i];
            if (line.Contains("Out of memory", StringComparison.Ordinal) || line.StartsWith("Unhandled exception", StringComparison.Ordinal)
                || line.StartsWith("crit:", StringComparison.Ordinal))
            {
                log.CrashSigns.Add(line.Trim());
            }
            var entry = Entry().Match(line);
            if (!entry.Success || entry.Groups["level"].Value != "fail")
            {
                continue;
            }
            // The entry: its first line (single-line format) or the indented lines after it.
            var text = line[entry.Length..];
            var j = i + 1;
            while (j < lines.Count && lines[j].StartsWith("      ", StringComparison.Ordinal))
            {
                text += "\n" + lines[j].Trim();
                j++;
            }
            var category = entry.Groups["category"].Value;
            var protocol = category.EndsWith("M2mpSession", StringComparison.Ordinal) ? "m2mp"
                : category.EndsWith("AlipSession", StringComparison.Ordinal) ? "alip" : null;
            var exception = ExceptionLine().Match(text) is { Success: true } m ? Shorten(m.Value) : "(no exception)";
            if (protocol is not null && (text.Contains("Session error; closing", StringComparison.Ordinal)
                || text.Contains("failed; closing", StringComparison.Ordinal) || text.Contains("Session failed", StringComparison.Ordinal)))
            {
                Add(log.InternalErrors, $"{protocol}: {exception}");
            }
            else
            {
                Add(log.OtherErrors, $"{category}: {Shorten(text.Split('\n')[0].Trim())} {(exception == "(no exception)" ? "" : exception)}".Trim());
            }
        }
        return log;
    }

    private static void Add(Dictionary<string, long> counts, string key) => counts[key] = counts.GetValueOrDefault(key) + 1;

    // Keeps the exception type and the start of its message; what varies per session (numbers, the
    // device's quoted text) is masked so that one defect counts as one kind.
    private static string Shorten(string text)
    {
        text = Parameter().Replace(text.Trim(), "");
        text = Quoted().Replace(text, "'…'");
        text = Numbers().Replace(text, "N");
        return text.Length <= 160 ? text : text[..160] + "…";
    }

    // Greedy: the device's text may hold quotes itself.
    [GeneratedRegex(@"'.*'|"".*""")]
    private static partial Regex Quoted();

    [GeneratedRegex(@" \(Parameter '[^']*'\)")]
    private static partial Regex Parameter();

    [GeneratedRegex(@"^(?<level>trce|dbug|info|warn|fail|crit): (?<category>[^\[\s]+)\[\d+\]\s*")]
    private static partial Regex Entry();

    [GeneratedRegex(@"[\w.]+(Exception|Error)\b[^\n]*")]
    private static partial Regex ExceptionLine();

    [GeneratedRegex(@"\b\d+\b")]
    private static partial Regex Numbers();
}
