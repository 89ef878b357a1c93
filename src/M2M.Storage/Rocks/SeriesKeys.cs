using System.Buffers.Binary;
using System.Text;

namespace M2M.Storage.Rocks;

/// <summary>
/// Byte layout of the time-series keys (see <c>docs/storage-layout.md</c>):
/// <code>
/// ts        month u32 BE | id | 0x00 | time u64 BE | type
/// ts_type   month u32 BE | id | 0x00 | type | 0x00 | time u64 BE
/// ts_latest id | 0x00 | type                      → time u64 BE | data
/// meta      "ts/month/" | month u32 BE            → (empty)
/// </code>
/// <c>month</c> is <c>yyyy * 100 + mm</c>; <c>time</c> is the UTC ticks with the sign bit flipped,
/// so that the unsigned byte order of the keys is the time order.
/// </summary>
internal static class SeriesKeys
{
    public const int MonthBytes = 4;
    public const int TimeBytes = 8;

    public static readonly byte[] MonthIndexPrefix = "ts/month/"u8.ToArray();

    public static uint MonthOf(long utcTicks)
    {
        var date = new DateTime(utcTicks, DateTimeKind.Utc);
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

    /// <summary>Largest key any of the layouts above can produce.</summary>
    public const int MaxKeyBytes = MonthBytes + 200 + 1 + 200 + 1 + TimeBytes;

    /// <summary>The <c>ts</c> key of a record.</summary>
    public static int WriteSeriesKey(Span<byte> destination, string id, string type, long utcTicks)
    {
        var length = WritePrefix(destination, MonthOf(utcTicks), id, null);
        length += WriteTime(destination[length..], utcTicks);
        length += Encoding.UTF8.GetBytes(type, destination[length..]);
        return length;
    }

    /// <summary>The <c>ts_type</c> key of a record.</summary>
    public static int WriteTypeKey(Span<byte> destination, string id, string type, long utcTicks)
    {
        var length = WritePrefix(destination, MonthOf(utcTicks), id, type);
        length += WriteTime(destination[length..], utcTicks);
        return length;
    }

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

    /// <summary><c>month</c> as the first 4 bytes of a key: the start of a month's key range.</summary>
    public static byte[] MonthBound(uint month)
    {
        var key = new byte[MonthBytes];
        BinaryPrimitives.WriteUInt32BigEndian(key, month);
        return key;
    }
}
