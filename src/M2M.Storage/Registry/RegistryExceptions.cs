namespace M2M.Storage.Registry;

/// <summary>A registry path is not valid (empty segment, <c>..</c>, control character, too long…).</summary>
public sealed class RegistryPathException(string path, string reason)
    : ArgumentException($"Invalid registry path '{Sanitize(path)}': {reason}.")
{
    /// <summary>The rejected path (may contain the offending characters).</summary>
    public string Path { get; } = path;

    /// <summary>Why it was rejected.</summary>
    public string Reason { get; } = reason;

    internal static string Sanitize(string text)
    {
        var shown = text.Length > 200 ? text[..200] + "…" : text;
        return string.Concat(shown.Select(c => char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString()));
    }
}

/// <summary>Base type of the registry's typed errors about values.</summary>
public class RegistryValueException(string message) : ArgumentException(message);

/// <summary>A value name is empty, too long or contains control characters.</summary>
public sealed class RegistryValueNameException(string name, string reason)
    : RegistryValueException($"Invalid registry value name '{RegistryPathException.Sanitize(name)}': {reason}.")
{
    /// <summary>The rejected name.</summary>
    public string Name { get; } = name;
}

/// <summary>A value is larger than <see cref="RegistryLimits.MaxValueBytes"/>.</summary>
public sealed class RegistryValueTooLargeException(string name, int bytes)
    : RegistryValueException($"Registry value '{RegistryPathException.Sanitize(name)}' is {bytes} bytes; the maximum is {RegistryLimits.MaxValueBytes}.")
{
    /// <summary>The value's name.</summary>
    public string Name { get; } = name;

    /// <summary>The value's size in UTF-8 bytes.</summary>
    public int Bytes { get; } = bytes;
}

/// <summary>A stored value cannot be read as the requested type (e.g. <c>"abc"</c> as an int64).</summary>
public sealed class RegistryValueFormatException(string path, string name, string type)
    : FormatException($"Registry value '{RegistryPathException.Sanitize(name)}' of '{RegistryPathException.Sanitize(path)}' is not a valid {type}.");

/// <summary>An import document is not a valid registry export.</summary>
public sealed class RegistryImportException(string message, Exception? inner = null) : FormatException(message, inner);

/// <summary>Size limits of the registry, common to every backend.</summary>
public static class RegistryLimits
{
    /// <summary>Maximum size of one value, in UTF-8 bytes (64 KiB).</summary>
    public const int MaxValueBytes = 64 * 1024;

    /// <summary>Maximum size of a value name, in UTF-8 bytes (1 KiB).</summary>
    public const int MaxNameBytes = 1024;

    /// <summary>Validates a value name and value; throws the typed errors of the registry.</summary>
    /// <exception cref="RegistryValueNameException">The name is empty, too long or has control characters.</exception>
    /// <exception cref="RegistryValueTooLargeException">The value is too large.</exception>
    public static void Check(string name, string? value)
    {
        CheckName(name);
        if (value is not null)
        {
            // Cheap upper bound first: at most 3 UTF-8 bytes per UTF-16 char.
            if (value.Length * 3 > MaxValueBytes)
            {
                var bytes = System.Text.Encoding.UTF8.GetByteCount(value);
                if (bytes > MaxValueBytes)
                {
                    throw new RegistryValueTooLargeException(name, bytes);
                }
            }
        }
    }

    /// <summary>Validates a value name.</summary>
    /// <exception cref="RegistryValueNameException">The name is empty, too long or has control characters.</exception>
    public static void CheckName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length == 0)
        {
            throw new RegistryValueNameException(name, "empty");
        }
        if (name.Length * 3 > MaxNameBytes && System.Text.Encoding.UTF8.GetByteCount(name) > MaxNameBytes)
        {
            throw new RegistryValueNameException(name, $"longer than {MaxNameBytes} bytes");
        }
        foreach (var c in name)
        {
            if (char.IsControl(c))
            {
                throw new RegistryValueNameException(name, "control character");
            }
        }
    }
}

/// <summary>An operation needs a created node (e.g. the source of a copy) and the node is not created.</summary>
public sealed class RegistryNodeNotFoundException(RegistryPath path) : KeyNotFoundException($"Registry node '{RegistryPathException.Sanitize(path.Value)}' does not exist.")
{
    /// <summary>The missing node.</summary>
    public RegistryPath Path { get; } = path;
}
