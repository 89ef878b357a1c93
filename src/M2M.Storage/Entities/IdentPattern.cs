namespace M2M.Storage.Entities;

/// <summary>
/// Ident patterns of auto-registration: an ident's characters (printable ASCII without spaces) plus
/// the wildcards <c>*</c> (any run of characters, possibly empty) and <c>?</c> (one character),
/// matched against the whole ident, case-sensitively. E.g. <c>imei:3541*</c>, <c>sn:????-*</c>.
/// Globs rather than regular expressions: an operator writes them without escaping, and matching is
/// linear-time whatever the pattern (no catastrophic backtracking on device input).
/// </summary>
public static class IdentPattern
{
    /// <summary>Longest pattern.</summary>
    public const int MaxLength = DeviceIds.MaxIdentLength;

    /// <summary>Most patterns in one policy.</summary>
    public const int MaxCount = 100;

    /// <summary>Why <paramref name="pattern"/> is not a valid pattern, or <c>null</c>.</summary>
    public static string? Check(string? pattern)
    {
        if (string.IsNullOrEmpty(pattern) || pattern.Length > MaxLength)
        {
            return $"A pattern has 1 to {MaxLength} characters.";
        }
        foreach (var c in pattern)
        {
            if (c is < '!' or > '~')
            {
                return "A pattern has printable ASCII characters without spaces ('*' and '?' are wildcards).";
            }
        }
        return null;
    }

    /// <summary>Whether <paramref name="ident"/> matches <paramref name="pattern"/> as a whole.</summary>
    public static bool IsMatch(ReadOnlySpan<char> pattern, ReadOnlySpan<char> ident)
    {
        // Greedy match with one backtrack point (the last '*'): O(pattern × ident) at worst.
        int p = 0, i = 0, star = -1, mark = 0;
        while (i < ident.Length)
        {
            if (p < pattern.Length && (pattern[p] == '?' || pattern[p] == ident[i]))
            {
                p++;
                i++;
            }
            else if (p < pattern.Length && pattern[p] == '*')
            {
                star = p++;
                mark = i;
            }
            else if (star >= 0)
            {
                p = star + 1;
                i = ++mark;
            }
            else
            {
                return false;
            }
        }
        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }
        return p == pattern.Length;
    }

    /// <summary>Whether <paramref name="ident"/> matches any of <paramref name="patterns"/>; an empty list matches every ident.</summary>
    public static bool MatchesAny(IReadOnlyList<string> patterns, string ident)
    {
        if (patterns.Count == 0)
        {
            return true;
        }
        foreach (var pattern in patterns)
        {
            if (IsMatch(pattern, ident))
            {
                return true;
            }
        }
        return false;
    }
}
