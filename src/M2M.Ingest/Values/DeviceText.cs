using System.Buffers;
using System.Text;
using System.Text.Unicode;
using M2M.Storage.TimeSeries;

namespace M2M.Ingest.Values;

/// <summary>
/// Checks of the text a device sends, done before it reaches the registry or the storage so that
/// bad input gets its protocol's answer (ALIP <c>ERR</c>, M2MP drop-and-count) instead of an
/// exception from a store.
/// </summary>
public static class DeviceText
{
    // C0 controls but TAB, and DEL: never part of an ALIP line (a trailing CR is removed by the reader).
    private static readonly SearchValues<byte> LineControls = SearchValues.Create(
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 127]);

    /// <summary>
    /// An ALIP line (without its <c>\n</c> and trailing <c>\r</c>):
    /// <code>
    /// line = *( UTF-8 character but U+0000–U+0008, U+000A–U+001F, U+007F )   ; TAB is allowed
    /// </code>
    /// <see cref="ValueError.ControlCharacter"/> or <see cref="ValueError.InvalidUtf8"/> otherwise.
    /// Both scans are vectorised: a line costs about one pass over its bytes.
    /// </summary>
    public static ValueError CheckLine(ReadOnlySpan<byte> line)
    {
        if (line.IndexOfAny(LineControls) >= 0)
        {
            return ValueError.ControlCharacter;
        }
        return Utf8.IsValid(line) ? ValueError.None : ValueError.InvalidUtf8;
    }

    /// <summary>Whether <paramref name="utf8"/> is valid UTF-8 without any control character (C0, DEL or C1).</summary>
    public static bool IsPrintableUtf8(ReadOnlySpan<byte> utf8)
    {
        if (!Utf8.IsValid(utf8))
        {
            return false;
        }
        while (!utf8.IsEmpty)
        {
            Rune.DecodeFromUtf8(utf8, out var rune, out var consumed);
            if (Rune.IsControl(rune))
            {
                return false;
            }
            utf8 = utf8[consumed..];
        }
        return true;
    }

    /// <summary>
    /// A record type a device may store: 1 to <see cref="TimeSeriesLimits.MaxTypeBytes"/> UTF-8 bytes,
    /// no control character, not starting with <c>_</c> (the platform's own types, e.g. <c>_server</c>).
    /// </summary>
    public static bool IsValidRecordType(string type)
    {
        if (type.Length == 0 || type[0] == '_' || type.Length > TimeSeriesLimits.MaxTypeBytes)
        {
            return false;
        }
        foreach (var c in type)
        {
            if (char.IsControl(c))
            {
                return false;
            }
        }
        return type.Length * 3 <= TimeSeriesLimits.MaxTypeBytes || Encoding.UTF8.GetByteCount(type) <= TimeSeriesLimits.MaxTypeBytes;
    }

    /// <summary>Whether the stored JSON <paramref name="data"/> fits a record (<see cref="TimeSeriesLimits.MaxDataBytes"/>).</summary>
    public static bool FitsRecord(string data) =>
        data.Length <= TimeSeriesLimits.MaxDataBytes / 3 || Encoding.UTF8.GetByteCount(data) <= TimeSeriesLimits.MaxDataBytes;
}
