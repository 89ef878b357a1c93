using System.Buffers.Binary;
using System.Text;

namespace M2M.Storage.Rocks;

/// <summary>
/// Byte layout of the time-series keys, format 3 (see <c>docs/storage-layout.md</c>):
/// <code>
/// ts        month u32 BE | id | 0x00 | time u64 BE | type | 0x00 | disc u64 BE
/// ts_type   month u32 BE | id | 0x00 | type | 0x00 | time u64 BE | disc u64 BE → (empty)
/// ts_latest id | 0x00 | type                                  → time u64 BE | data
/// meta      "ts/month/" | month u32 BE                        → (empty)
/// </code>
/// <c>month</c> is <c>yyyy * 100 + mm</c>; <c>time</c> is the UTC ticks and <c>disc</c> the record's content
/// discriminator (<see cref="M2M.Storage.TimeSeries.RecordIdentity"/>), both with the sign bit flipped, so
/// that the unsigned byte order of the keys is the order time, type, discriminator.
/// </summary>
internal static class SeriesKeys
{
    public const int MonthBytes = 4;
    public const int TimeBytes = 8;
    public const int DiscriminatorBytes = 8;

    /// <summary>What follows the type in a <c>ts</c> key, and the time in a <c>ts_type</c> key: <c>0x00 | disc</c> / <c>disc</c>.</summary>
    public const int SeriesSuffixBytes = 1 + DiscriminatorBytes;

    public static readonly byte[] MonthIndexPrefix = "ts/month/"u8.ToArray();

    public static uint MonthOf(long utcTicks)
    {
        var date = new DateTime(utcTicks, DateTimeKind.Utc);
        return (uint)(date.Year * 100 + date.Month);
    }

    /// <summary>The month of <paramref name="utcTicks"/> and its bounds <c>[start, end)</c> in ticks.</summary>
    public static uint MonthOf(long utcTicks, out long start, out long end)
    {
        var date = new DateTime(utcTicks, DateTimeKind.Utc);
        var first = new DateTime(date.Year, date.Month, 1, 0, 0, 0, DateTimeKind.Utc);
        start = first.Ticks;
        end = date.Year == 9999 && date.Month == 12 ? DateTime.MaxValue.Ticks + 1 : first.AddMonths(1).Ticks;
        return (uint)(date.Year * 100 + date.Month);
    }

    public static uint MonthOf(DateOnly month) => (uint)(month.Year * 100 + month.Month);

    public static DateOnly ToDate(uint month) => new((int)(month / 100), (int)(month % 100), 1);

    public static ulong EncodeTime(long utcTicks) => (ulong)utcTicks ^ 0x8000_0000_0000_0000UL;

    public static long DecodeTime(ReadOnlySpan<byte> bytes) => (long)(BinaryPrimitives.ReadUInt64BigEndian(bytes) ^ 0x8000_0000_0000_0000UL);

    /// <summary><c>month | id | 0x00</c>, and <c>type | 0x00</c> after it when <paramref name="type"/> is set.</summary>
    public static int WritePrefix(Span<byte> destination, uint month, string id, string? type)
    {
        BinaryPrimitives.WriteUInt32BigEndian(destination, month);
        var length = MonthBytes;
        length += Encoding.UTF8.GetBytes(id, destination[length..]);
        destination[length++] = 0;
        if (type is not null)
        {
            length += Encoding.UTF8.GetBytes(type, destination[length..]);
            destination[length++] = 0;
        }
        return length;
    }

    public static int WriteTime(Span<byte> destination, long utcTicks)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, EncodeTime(utcTicks));
        return TimeBytes;
    }

    /// <summary>A signed discriminator as 8 bytes whose unsigned order is the signed order (same encoding as the time).</summary>
    public static int WriteDiscriminator(Span<byte> destination, long discriminator)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, (ulong)discriminator ^ 0x8000_0000_0000_0000UL);
        return DiscriminatorBytes;
    }

    public static long DecodeDiscriminator(ReadOnlySpan<byte> bytes) => DecodeTime(bytes);

    /// <summary>Largest key any of the layouts above can produce.</summary>
    public const int MaxKeyBytes = MonthBytes + 200 + 1 + 200 + 1 + TimeBytes + DiscriminatorBytes;

    /// <summary>The <c>ts</c> key of a record.</summary>
    public static int WriteSeriesKey(Span<byte> destination, string id, string type, long utcTicks, long discriminator)
    {
        var length = WriteSeriesInstantPrefix(destination, id, type, utcTicks);
        length += WriteDiscriminator(destination[length..], discriminator);
        return length;
    }

    /// <summary>
    /// <c>month | id | 0x00 | time | type | 0x00</c>: the prefix of the <c>ts</c> keys of every record of
    /// <c>(id, type)</c> at one instant.
    /// </summary>
    public static int WriteSeriesInstantPrefix(Span<byte> destination, string id, string type, long utcTicks)
    {
        var length = WritePrefix(destination, MonthOf(utcTicks), id, null);
        length += WriteTime(destination[length..], utcTicks);
        length += Encoding.UTF8.GetBytes(type, destination[length..]);
        destination[length++] = 0;
        return length;
    }

    /// <summary>The <c>ts_type</c> key of a record.</summary>
    public static int WriteTypeKey(Span<byte> destination, string id, string type, long utcTicks, long discriminator)
    {
        var length = WritePrefix(destination, MonthOf(utcTicks), id, type);
        length += WriteTime(destination[length..], utcTicks);
        length += WriteDiscriminator(destination[length..], discriminator);
        return length;
    }

    /// <summary>
    /// Both index keys of a record at once, from the UTF-8 bytes of id and type (encoded once by the
    /// caller): <c>ts</c> into <paramref name="seriesKey"/>, <c>ts_type</c> into <paramref name="typeKey"/>.
    /// </summary>
    public static void WriteRecordKeys(Span<byte> seriesKey, Span<byte> typeKey, uint month, ReadOnlySpan<byte> id, ReadOnlySpan<byte> type, long utcTicks, long discriminator, out int seriesLength, out int typeLength)
    {
        BinaryPrimitives.WriteUInt32BigEndian(seriesKey, month);
        id.CopyTo(seriesKey[MonthBytes..]);
        var prefix = MonthBytes + id.Length;
        seriesKey[prefix++] = 0;
        seriesKey[..prefix].CopyTo(typeKey);
        var time = EncodeTime(utcTicks);
        var disc = (ulong)discriminator ^ 0x8000_0000_0000_0000UL;
        BinaryPrimitives.WriteUInt64BigEndian(seriesKey[prefix..], time);
        var at = prefix + TimeBytes;
        type.CopyTo(seriesKey[at..]);
        at += type.Length;
        seriesKey[at++] = 0;
        BinaryPrimitives.WriteUInt64BigEndian(seriesKey[at..], disc);
        seriesLength = at + DiscriminatorBytes;
        type.CopyTo(typeKey[prefix..]);
        at = prefix + type.Length;
        typeKey[at++] = 0;
        BinaryPrimitives.WriteUInt64BigEndian(typeKey[at..], time);
        BinaryPrimitives.WriteUInt64BigEndian(typeKey[(at + TimeBytes)..], disc);
        typeLength = at + TimeBytes + DiscriminatorBytes;
    }

    /// <summary>
    /// The <c>ts</c> key of the record a <c>ts_type</c> key points to: <paramref name="seriesPrefixLength"/>
    /// is the length of <c>month | id | 0x00</c>, <paramref name="typePrefixLength"/> that of
    /// <c>month | id | 0x00 | type | 0x00</c>.
    /// </summary>
    public static int SeriesKeyFromTypeKey(ReadOnlySpan<byte> typeKey, int seriesPrefixLength, int typePrefixLength, Span<byte> destination)
    {
        typeKey[..seriesPrefixLength].CopyTo(destination);
        typeKey.Slice(typePrefixLength, TimeBytes).CopyTo(destination[seriesPrefixLength..]);
        var type = typeKey[seriesPrefixLength..typePrefixLength];
        type.CopyTo(destination[(seriesPrefixLength + TimeBytes)..]);
        var at = seriesPrefixLength + TimeBytes + type.Length;
        typeKey.Slice(typePrefixLength + TimeBytes, DiscriminatorBytes).CopyTo(destination[at..]);
        return at + DiscriminatorBytes;
    }

    /// <summary>
    /// The <c>ts_type</c> key of the record a <c>ts</c> key points to: <paramref name="seriesPrefixLength"/>
    /// is the length of <c>month | id | 0x00</c>.
    /// </summary>
    public static int TypeKeyFromSeriesKey(ReadOnlySpan<byte> seriesKey, int seriesPrefixLength, Span<byte> destination)
    {
        seriesKey[..seriesPrefixLength].CopyTo(destination);
        var typeAndZero = seriesKey[(seriesPrefixLength + TimeBytes)..^DiscriminatorBytes];
        typeAndZero.CopyTo(destination[seriesPrefixLength..]);
        var at = seriesPrefixLength + typeAndZero.Length;
        seriesKey.Slice(seriesPrefixLength, TimeBytes).CopyTo(destination[at..]);
        seriesKey[^DiscriminatorBytes..].CopyTo(destination[(at + TimeBytes)..]);
        return at + TimeBytes + DiscriminatorBytes;
    }

    /// <summary>The type of a <c>ts</c> key (<paramref name="seriesPrefixLength"/>: length of <c>month | id | 0x00</c>).</summary>
    public static ReadOnlySpan<byte> TypeOfSeriesKey(ReadOnlySpan<byte> seriesKey, int seriesPrefixLength) =>
        seriesKey[(seriesPrefixLength + TimeBytes)..^SeriesSuffixBytes];

    /// <summary>The discriminator of a <c>ts</c> or <c>ts_type</c> key (its last 8 bytes).</summary>
    public static long DiscriminatorOfKey(ReadOnlySpan<byte> key) => DecodeDiscriminator(key[^DiscriminatorBytes..]);

    /// <summary>The <c>ts_latest</c> key of a series and type (<c>id | 0x00 | type</c>).</summary>
    public static int WriteLatestKey(Span<byte> destination, string id, string type)
    {
        var length = Encoding.UTF8.GetBytes(id, destination);
        destination[length++] = 0;
        length += Encoding.UTF8.GetBytes(type, destination[length..]);
        return length;
    }

    public static byte[] LatestPrefix(string id)
    {
        var key = new byte[Encoding.UTF8.GetByteCount(id) + 1];
        Encoding.UTF8.GetBytes(id, key);
        return key;
    }

    public static byte[] MonthIndexKey(uint month)
    {
        var key = new byte[MonthIndexPrefix.Length + MonthBytes];
        MonthIndexPrefix.CopyTo(key, 0);
        BinaryPrimitives.WriteUInt32BigEndian(key.AsSpan(MonthIndexPrefix.Length), month);
        return key;
    }

    public static void WriteMonthIndexKey(Span<byte> destination, uint month, out int length)
    {
        MonthIndexPrefix.CopyTo(destination);
        BinaryPrimitives.WriteUInt32BigEndian(destination[MonthIndexPrefix.Length..], month);
        length = MonthIndexPrefix.Length + MonthBytes;
    }

    /// <summary><c>month</c> as the first 4 bytes of a key: the start of a month's key range.</summary>
    public static byte[] MonthBound(uint month)
    {
        var key = new byte[MonthBytes];
        BinaryPrimitives.WriteUInt32BigEndian(key, month);
        return key;
    }
}
