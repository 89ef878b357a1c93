using System.Globalization;
using System.Text.Json;
using M2M.Load.Cli;

namespace M2M.Load.Runs;

/// <summary>
/// One series (device, type) a page query can aim at, with the bounds inside which a page is full:
/// a newest-first page ending at or after <see cref="LowestTo"/> (the time of the page-size-th oldest
/// record) holds a whole page, as does an oldest-first page starting at or before
/// <see cref="HighestFrom"/> (the page-size-th newest).
/// </summary>
public sealed record PageTarget(Guid Device, string Type, DateTimeOffset First, DateTimeOffset Last, DateTimeOffset LowestTo, DateTimeOffset HighestFrom, bool Full)
{
    /// <summary>
    /// The request path of a page at a random position: <c>to</c> uniform in whole seconds over
    /// [<see cref="LowestTo"/>, <see cref="Last"/>] for <see cref="PageOrder.Desc"/>, <c>from</c> over
    /// [<see cref="First"/>, <see cref="HighestFrom"/>] for <see cref="PageOrder.Asc"/>.
    /// </summary>
    public string PagePath(PageOrder order, int pageSize, Random random)
    {
        var (bound, at) = order == PageOrder.Desc ? ("to", Pick(LowestTo, Last, random)) : ("from", Pick(First, HighestFrom, random));
        return $"/api/devices/{Device:D}/data?type={Uri.EscapeDataString(Type)}&order={(order == PageOrder.Desc ? "desc" : "asc")}&{bound}={Uri.EscapeDataString(Iso(at))}&limit={pageSize}";
    }

    /// <summary>A whole second uniformly within [<paramref name="low"/>, <paramref name="high"/>] (<paramref name="low"/> when the range is empty).</summary>
    public static DateTimeOffset Pick(DateTimeOffset low, DateTimeOffset high, Random random)
    {
        var lo = low.ToUnixTimeSeconds();
        var hi = high.ToUnixTimeSeconds();
        return DateTimeOffset.FromUnixTimeSeconds(hi <= lo ? lo : random.NextInt64(lo, hi + 1));
    }

    public static string Iso(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>
    /// The target made of the oldest-first and the newest-first discovery pages of one series
    /// (<c>{"items":[{"time":…},…]}</c> bodies); <c>null</c> when the series has no record.
    /// </summary>
    public static PageTarget? FromPages(Guid device, string type, JsonElement oldestFirst, JsonElement newestFirst, int pageSize)
    {
        var asc = Times(oldestFirst);
        var desc = Times(newestFirst);
        if (asc.Count == 0 || desc.Count == 0)
        {
            return null;
        }
        var full = asc.Count >= pageSize && desc.Count >= pageSize;
        return new PageTarget(device, type, asc[0], desc[0], full ? asc[^1] : asc[0], full ? desc[^1] : desc[0], full);

        static List<DateTimeOffset> Times(JsonElement page)
        {
            var list = new List<DateTimeOffset>();
            foreach (var item in page.GetProperty("items").EnumerateArray())
            {
                list.Add(item.GetProperty("time").GetDateTimeOffset());
            }
            return list;
        }
    }

    /// <summary>
    /// The number of elements of the top-level <c>items</c> array of a page body, read without
    /// building objects; -1 when the body is not such a page.
    /// </summary>
    public static int CountItems(ReadOnlySpan<byte> body)
    {
        try
        {
            var reader = new Utf8JsonReader(body);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return -1;
            }
            while (reader.Read() && reader.CurrentDepth >= 1)
            {
                if (reader.TokenType == JsonTokenType.PropertyName && reader.CurrentDepth == 1 && reader.ValueTextEquals("items"u8))
                {
                    if (!reader.Read() || reader.TokenType != JsonTokenType.StartArray)
                    {
                        return -1;
                    }
                    var count = 0;
                    while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                    {
                        count++;
                        reader.Skip();
                    }
                    return count;
                }
                if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                {
                    reader.Skip();
                }
            }
            return -1;
        }
        catch (JsonException)
        {
            return -1;
        }
    }

    /// <summary>The number of properties of a top-level JSON object (the latest-values answer); -1 when the body is not an object.</summary>
    public static int CountProperties(ReadOnlySpan<byte> body)
    {
        try
        {
            var reader = new Utf8JsonReader(body);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return -1;
            }
            var count = 0;
            while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
            {
                count++;
                reader.Read();
                reader.Skip();
            }
            return count;
        }
        catch (JsonException)
        {
            return -1;
        }
    }
}
