using System.Buffers.Text;
using System.Text;

namespace M2M.Api.Http;

/// <summary>A page of a list: <c>{ "items": [...], "next": "&lt;cursor&gt;" | null }</c>.</summary>
public sealed record Page<T>(IReadOnlyList<T> Items, string? Next);

/// <summary>
/// Opaque cursors: a kind tag and the position, base64url-encoded, so a client cannot mistake one
/// list's cursor for another's and tampered text is refused as a 400 instead of reaching storage.
/// </summary>
public static class Cursor
{
    /// <summary>Longest cursor accepted, in characters.</summary>
    public const int MaxLength = 2048;

    public static string? Encode(string kind, string? position) =>
        position is null ? null : Base64Url.EncodeToString(Encoding.UTF8.GetBytes($"{kind}:{position}"));

    /// <summary>The position inside <paramref name="cursor"/>, or <c>false</c> when it is not a cursor of <paramref name="kind"/>.</summary>
    public static bool TryDecode(string kind, string cursor, out string position)
    {
        position = "";
        if (cursor.Length is 0 or > MaxLength)
        {
            return false;
        }
        byte[] bytes;
        try
        {
            bytes = Base64Url.DecodeFromChars(cursor);
        }
        catch (FormatException)
        {
            return false;
        }
        string text;
        try
        {
            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            return false;
        }
        if (!text.StartsWith(kind + ":", StringComparison.Ordinal) || text.Length == kind.Length + 1)
        {
            return false;
        }
        position = text[(kind.Length + 1)..];
        return true;
    }
}
