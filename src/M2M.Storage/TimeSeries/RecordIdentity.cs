using System.Buffers;
using System.IO.Hashing;
using System.Text;

namespace M2M.Storage.TimeSeries;

/// <summary>
/// The identity of a time-series record, the same for every backend (see <c>docs/storage-layout.md</c>,
/// "Record identity"): a record is <c>(Id, Type, Time, Data)</c>, and storage keys carry a 64-bit
/// <em>content discriminator</em> derived from the data, so that
/// <list type="bullet">
/// <item>an identical record saved again maps to the same key (stored once: redelivery is idempotent);</item>
/// <item>a record with other data at the same <c>(Id, Type, Time)</c> gets another key (both are kept).</item>
/// </list>
/// </summary>
/// <remarks>
/// The discriminator is XXH3-64 (seed 0) of the data's UTF-8 bytes, read as a signed 64-bit integer
/// (the bit pattern of the unsigned hash), so that an SQL <c>bigint</c> column holds it and orders it the same way.
/// <para>
/// Order within a series: time, then type (ordinal over the UTF-8 bytes, i.e. by code point), then
/// discriminator (signed). The latest value of <c>(Id, Type)</c> is the greatest record in that order:
/// a newer time wins; at the very same instant the greater discriminator wins (<see cref="Supersedes"/>).
/// </para>
/// <para>
/// Two different data with the same discriminator at the same <c>(Id, Type, Time)</c> share one key: the
/// record saved later replaces the other. For unrelated data the chance is 2⁻⁶⁴ per pair of records of one
/// series, type and instant. XXH3 is not collision-resistant against a writer crafting data on purpose; only
/// whoever writes a series's records (the device itself) could do so, and only to replace its own record of
/// the same instant, which it could have sent differently in the first place.
/// </para>
/// </remarks>
public static class RecordIdentity
{
    /// <summary>Data up to this many UTF-16 chars is encoded on the stack.</summary>
    private const int StackChars = 256;

    /// <summary>The discriminator of data given as its UTF-8 bytes (allocation-free).</summary>
    public static long Discriminator(ReadOnlySpan<byte> utf8Data) => unchecked((long)XxHash3.HashToUInt64(utf8Data));

    /// <summary>The discriminator of <paramref name="data"/> (encoded to UTF-8 on the stack or in a pooled buffer).</summary>
    public static long Discriminator(string data)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.Length <= StackChars)
        {
            Span<byte> bytes = stackalloc byte[StackChars * 3];
            return Discriminator(bytes[..Encoding.UTF8.GetBytes(data, bytes)]);
        }
        var rented = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetMaxByteCount(data.Length));
        try
        {
            return Discriminator(rented.AsSpan(0, Encoding.UTF8.GetBytes(data, rented)));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>
    /// Whether a record at <c>(<paramref name="ticks"/>, <paramref name="discriminator"/>)</c> becomes the latest
    /// value in place of the stored one: it is newer, or of the same instant with a discriminator at least as
    /// great (equal: the same record saved again, which rewrites the same value).
    /// </summary>
    public static bool Supersedes(long ticks, long discriminator, long storedTicks, long storedDiscriminator) =>
        ticks > storedTicks || (ticks == storedTicks && discriminator >= storedDiscriminator);

    /// <summary>Orders record types ordinally by UTF-8 bytes (code points), as every backend's keys do.</summary>
    public static int CompareTypes(string a, string b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        // UTF-16 ordinal order differs from code point order only when a surrogate (a code point above
        // U+FFFF) meets a char of U+E000..U+FFFF: the surrogate side is the greater code point.
        var length = Math.Min(a.Length, b.Length);
        for (var i = 0; i < length; i++)
        {
            var x = a[i];
            var y = b[i];
            if (x == y)
            {
                continue;
            }
            if (char.IsSurrogate(x) != char.IsSurrogate(y))
            {
                return char.IsSurrogate(x) ? 1 : -1;
            }
            return x < y ? -1 : 1;
        }
        return a.Length.CompareTo(b.Length);
    }

    /// <summary>
    /// The order of records within one series: time, then type (<see cref="CompareTypes"/>), then discriminator.
    /// Queries return records in this order (reversed when newest first).
    /// </summary>
    public static int Compare(in TimeSeriesRecord a, in TimeSeriesRecord b)
    {
        var order = a.Time.UtcTicks.CompareTo(b.Time.UtcTicks);
        if (order != 0)
        {
            return order;
        }
        order = CompareTypes(a.Type, b.Type);
        return order != 0 ? order : Discriminator(a.Data).CompareTo(Discriminator(b.Data));
    }

    /// <summary><see cref="Compare"/> as a comparer.</summary>
    public static IComparer<TimeSeriesRecord> Comparer { get; } = Comparer<TimeSeriesRecord>.Create((a, b) => Compare(a, b));
}
