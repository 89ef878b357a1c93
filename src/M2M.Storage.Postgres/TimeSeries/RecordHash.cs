using System.Buffers;
using System.IO.Hashing;
using System.Text;

namespace M2M.Storage.Postgres.TimeSeries;

/// <summary>
/// The content discriminator of a record, the last part of its key: XXH3-64 (seed 0) of the data's UTF-8
/// bytes, as a signed 64-bit integer (the bit pattern of the unsigned hash), so that an identical
/// record sent again maps to the same key and two records that differ only in data are both kept.
/// </summary>
/// <remarks>The same function as the engine-neutral <c>RecordIdentity.Discriminator</c> being added to
/// <c>M2M.Storage</c>; this class goes once that lands.</remarks>
internal static class RecordHash
{
    private const int StackChars = 256;

    public static long Of(string data)
    {
        if (data.Length <= StackChars)
        {
            Span<byte> bytes = stackalloc byte[StackChars * 3];
            return unchecked((long)XxHash3.HashToUInt64(bytes[..Encoding.UTF8.GetBytes(data, bytes)]));
        }
        var rented = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetMaxByteCount(data.Length));
        try
        {
            return unchecked((long)XxHash3.HashToUInt64(rented.AsSpan(0, Encoding.UTF8.GetBytes(data, rented))));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>Whether <c>(ticks, hash)</c> replaces the stored latest value <c>(storedTicks, storedHash)</c>.</summary>
    public static bool Supersedes(long ticks, long hash, long storedTicks, long storedHash) =>
        ticks > storedTicks || (ticks == storedTicks && hash >= storedHash);
}
