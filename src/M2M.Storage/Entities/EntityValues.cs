using System.Text;
using M2M.Storage.Registry;

namespace M2M.Storage.Entities;

/// <summary>Helpers shared by the entity stores: value parsing and validation of names coming from devices and users.</summary>
internal static class EntityValues
{
    public static DateTimeOffset? Time(IReadOnlyDictionary<string, string> values, string name)
        => values.TryGetValue(name, out var text) ? RegistryValueExtensions.ParseTime(text) : null;

    public static string? Text(IReadOnlyDictionary<string, string> values, string name)
        => values.TryGetValue(name, out var text) && text.Length > 0 ? text : null;

    public static Guid? Id(IReadOnlyDictionary<string, string> values, string name)
        => values.TryGetValue(name, out var text) && Guid.TryParse(text, out var id) ? id : null;

    public static string FormatTime(DateTimeOffset time) => RegistryValueExtensions.FormatTime(time);

    /// <summary>
    /// A setting/status name as devices exchange it: non-empty, at most 256 characters, no whitespace,
    /// control character or <c>=</c> (the protocols send <c>name=value</c> and space-separated fields).
    /// </summary>
    public static void CheckKey(string name, string what)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length is 0 or > DeviceValues.MaxSettingNameLength)
        {
            throw new ArgumentException($"A {what} name must have 1 to {DeviceValues.MaxSettingNameLength} characters.", nameof(name));
        }
        if (!DeviceValues.IsValidSettingName(name))
        {
            throw new ArgumentException($"A {what} name may not contain whitespace, control characters or '='.", nameof(name));
        }
    }

    /// <summary>A value sent to devices on one line: no control characters, at most the registry's value size.</summary>
    public static void CheckLineValue(string value, string what)
    {
        ArgumentNullException.ThrowIfNull(value);
        foreach (var c in value)
        {
            if (char.IsControl(c))
            {
                throw new ArgumentException($"A {what} value may not contain control characters.", nameof(value));
            }
        }
        RegistryLimits.Check(what, value);
    }

    /// <summary>Cuts <paramref name="text"/> to at most <paramref name="maxBytes"/> UTF-8 bytes, on a character boundary.</summary>
    public static string TruncateUtf8(string text, int maxBytes)
    {
        if (text.Length * 3 <= maxBytes || Encoding.UTF8.GetByteCount(text) <= maxBytes)
        {
            return text;
        }
        var length = Math.Min(text.Length, maxBytes);
        while (length > 0 && Encoding.UTF8.GetByteCount(text.AsSpan(0, length)) > maxBytes)
        {
            length -= Math.Max(1, (Encoding.UTF8.GetByteCount(text.AsSpan(0, length)) - maxBytes) / 3);
        }
        if (length > 0 && char.IsHighSurrogate(text[length - 1]))
        {
            length--;
        }
        return text[..length];
    }
}
