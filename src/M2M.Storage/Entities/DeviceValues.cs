using System.Text;
using M2M.Storage.Registry;

namespace M2M.Storage.Entities;

/// <summary>
/// The rules that names and values exchanged with devices follow, as checks that do not throw, so
/// that a device session can refuse bad input with its protocol's answer before it reaches the
/// store (which enforces the same rules by throwing).
/// </summary>
public static class DeviceValues
{
    /// <summary>Longest setting name, in characters.</summary>
    public const int MaxSettingNameLength = 256;

    /// <summary>
    /// A setting name: 1 to <see cref="MaxSettingNameLength"/> characters, no whitespace, control
    /// character or <c>=</c> (the protocols send <c>name=value</c> and space-separated fields).
    /// </summary>
    public static bool IsValidSettingName(ReadOnlySpan<char> name)
    {
        if (name.Length is 0 or > MaxSettingNameLength)
        {
            return false;
        }
        foreach (var c in name)
        {
            if (char.IsWhiteSpace(c) || char.IsControl(c) || c == '=')
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>A value sent to devices on one line: no control character, at most the registry's value size.</summary>
    public static bool IsValidSettingValue(ReadOnlySpan<char> value) =>
        !HasControl(value) && FitsValue(value);

    /// <summary>A status name (the registry's value-name rules): 1 to 1024 UTF-8 bytes, no control character.</summary>
    public static bool IsValidStatusName(ReadOnlySpan<char> name) =>
        name.Length > 0 && !HasControl(name) && (name.Length * 3 <= RegistryLimits.MaxNameBytes || Encoding.UTF8.GetByteCount(name) <= RegistryLimits.MaxNameBytes);

    /// <summary>A status value: at most the registry's value size.</summary>
    public static bool IsValidStatusValue(ReadOnlySpan<char> value) => FitsValue(value);

    private static bool HasControl(ReadOnlySpan<char> text)
    {
        foreach (var c in text)
        {
            if (char.IsControl(c))
            {
                return true;
            }
        }
        return false;
    }

    private static bool FitsValue(ReadOnlySpan<char> value) =>
        value.Length * 3 <= RegistryLimits.MaxValueBytes || Encoding.UTF8.GetByteCount(value) <= RegistryLimits.MaxValueBytes;
}
