using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace M2M.Storage.Registry;

/// <summary>
/// The validated, absolute path of a registry node, such as <c>/device/5f0c…/settings/</c>.
/// A path starts and ends with <c>/</c> (<c>/</c> alone is the root), has no empty, <c>.</c> or
/// <c>..</c> segment, no control character, at most <see cref="MaxLength"/> characters and
/// segments of at most <see cref="MaxSegmentLength"/> characters.
/// </summary>
public readonly struct RegistryPath : IEquatable<RegistryPath>, IComparable<RegistryPath>
{
    /// <summary>Maximum length of a whole path, in characters.</summary>
    public const int MaxLength = 4096;

    /// <summary>Maximum length of one segment (a node name), in characters.</summary>
    public const int MaxSegmentLength = 1024;

    private readonly string? _value;

    private RegistryPath(string value) => _value = value;

    /// <summary>The root node <c>/</c>.</summary>
    public static RegistryPath Root { get; } = new("/");

    /// <summary>The path text, always ending with <c>/</c>.</summary>
    public string Value => _value ?? "/";

    /// <summary><c>true</c> for <c>/</c>.</summary>
    public bool IsRoot => Value.Length == 1;

    /// <summary>The last segment (the node's name in its parent); empty for the root.</summary>
    public string Name
    {
        get
        {
            if (IsRoot)
            {
                return "";
            }
            var v = Value;
            var start = v.LastIndexOf('/', v.Length - 2) + 1;
            return v[start..^1];
        }
    }

    /// <summary>The parent node, or <c>null</c> for the root.</summary>
    public RegistryPath? Parent
    {
        get
        {
            if (IsRoot)
            {
                return null;
            }
            var v = Value;
            return new RegistryPath(v[..(v.LastIndexOf('/', v.Length - 2) + 1)]);
        }
    }

    /// <summary>The segments from the root down, e.g. <c>["device", "…"]</c>.</summary>
    public IReadOnlyList<string> Segments => IsRoot ? [] : Value[1..^1].Split('/');

    /// <summary>Parses and validates <paramref name="path"/>. A missing trailing <c>/</c> is added.</summary>
    /// <exception cref="RegistryPathException">The path is not valid.</exception>
    public static RegistryPath Parse(string path)
    {
        var error = Validate(path, out var normalized);
        return error is null ? new RegistryPath(normalized!) : throw new RegistryPathException(path, error);
    }

    /// <summary>Parses <paramref name="path"/> without throwing.</summary>
    public static bool TryParse([NotNullWhen(true)] string? path, out RegistryPath result)
    {
        result = Root;
        if (path is null || Validate(path, out var normalized) is not null)
        {
            return false;
        }
        result = new RegistryPath(normalized!);
        return true;
    }

    /// <summary>The child node named <paramref name="name"/> (one segment, validated).</summary>
    /// <exception cref="RegistryPathException">The name is not a valid segment.</exception>
    public RegistryPath Child(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var error = ValidateSegment(name);
        if (error is not null)
        {
            throw new RegistryPathException(name, error);
        }
        var value = Value + name + "/";
        return value.Length > MaxLength ? throw new RegistryPathException(value, $"longer than {MaxLength} characters") : new RegistryPath(value);
    }

    /// <summary>Appends a relative path of one or more segments, e.g. <c>"settings/"</c> or <c>"a/b"</c>.</summary>
    public RegistryPath Combine(string relative)
    {
        ArgumentNullException.ThrowIfNull(relative);
        return Parse(Value + relative.TrimStart('/'));
    }

    /// <summary><c>true</c> when this node is <paramref name="other"/> or one of its ancestors.</summary>
    public bool IsAncestorOrSelf(RegistryPath other) => other.Value.StartsWith(Value, StringComparison.Ordinal);

    /// <summary>
    /// Turns arbitrary text (an ident, a file name) into a valid segment: <c>%</c>, <c>/</c>,
    /// control characters and a leading <c>.</c> are percent-encoded. <see cref="UnescapeSegment"/> reverses it.
    /// </summary>
    public static string EscapeSegment(string text)
    {
        ArgumentException.ThrowIfNullOrEmpty(text);
        var sb = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '%' || c == '/' || char.IsControl(c) || (i == 0 && c == '.'))
            {
                sb.Append('%').Append(((int)c).ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
            }
            else
            {
                sb.Append(c);
            }
        }
        return sb.ToString();
    }

    /// <summary>Reverses <see cref="EscapeSegment"/>.</summary>
    public static string UnescapeSegment(string segment) => Uri.UnescapeDataString(segment);

    private static string? Validate(string path, out string? normalized)
    {
        normalized = null;
        if (string.IsNullOrEmpty(path))
        {
            return "empty";
        }
        if (path[0] != '/')
        {
            return "not absolute (must start with '/')";
        }
        if (!path.EndsWith('/'))
        {
            path += "/";
        }
        if (path.Length > MaxLength)
        {
            return $"longer than {MaxLength} characters";
        }
        if (path.Length > 1)
        {
            var start = 1;
            while (start < path.Length)
            {
                var end = path.IndexOf('/', start);
                var error = ValidateSegment(path[start..end]);
                if (error is not null)
                {
                    return error;
                }
                start = end + 1;
            }
        }
        normalized = path;
        return null;
    }

    private static string? ValidateSegment(string segment)
    {
        if (segment.Length == 0)
        {
            return "empty segment";
        }
        if (segment is "." or "..")
        {
            return "'.' and '..' segments are not allowed";
        }
        if (segment.Length > MaxSegmentLength)
        {
            return $"segment longer than {MaxSegmentLength} characters";
        }
        foreach (var c in segment)
        {
            if (c == '/')
            {
                return "'/' inside a segment";
            }
            if (char.IsControl(c))
            {
                return "control character";
            }
            if (char.IsSurrogate(c) && !char.IsHighSurrogate(c) && !char.IsLowSurrogate(c))
            {
                return "invalid character";
            }
        }
        return null;
    }

    public bool Equals(RegistryPath other) => string.Equals(Value, other.Value, StringComparison.Ordinal);

    public override bool Equals(object? obj) => obj is RegistryPath other && Equals(other);

    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Value);

    public int CompareTo(RegistryPath other) => string.CompareOrdinal(Value, other.Value);

    public override string ToString() => Value;

    public static bool operator ==(RegistryPath left, RegistryPath right) => left.Equals(right);

    public static bool operator !=(RegistryPath left, RegistryPath right) => !left.Equals(right);

    public static bool operator <(RegistryPath left, RegistryPath right) => left.CompareTo(right) < 0;

    public static bool operator >(RegistryPath left, RegistryPath right) => left.CompareTo(right) > 0;

    public static bool operator <=(RegistryPath left, RegistryPath right) => left.CompareTo(right) <= 0;

    public static bool operator >=(RegistryPath left, RegistryPath right) => left.CompareTo(right) >= 0;
}
