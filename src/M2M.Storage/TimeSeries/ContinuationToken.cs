using System.Buffers.Binary;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace M2M.Storage.TimeSeries;

/// <summary>Where a page stopped: the time (UTC ticks) and type of its last record.</summary>
public readonly record struct TimeSeriesPosition(long Ticks, string Type);

/// <summary>
/// The continuation tokens of <see cref="ITimeSeriesStore.QueryAsync"/>, shared by every backend: a
/// token is opaque to the caller, carries the position of the last record returned and is bound to
/// the query that produced it (series, type filter, range, order), so a token replayed with another
/// query, altered or corrupted is refused with <see cref="InvalidContinuationTokenException"/>.
/// </summary>
/// <remarks>
/// Token: base64url( version u8 | flags u8 | time i64 LE | type UTF-8 | mac[8] ), where mac is the
/// first 8 bytes of SHA-256(payload | query fingerprint). The mac is not a secret: it catches
/// corrupted, hand-edited and cross-query tokens; a forged token can only point into the same query.
/// </remarks>
public static class ContinuationToken
{
    private const byte TokenVersion = 1;
    private const int TokenMacBytes = 8;

    /// <summary>The token of the page after the one that ended at <paramref name="last"/>.</summary>
    public static string Encode(TimeSeriesQuery query, TimeSeriesPosition last)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(last.Type);
        var fingerprint = Fingerprint(query);
        var typeLength = Encoding.UTF8.GetByteCount(last.Type);
        var payloadLength = 2 + 8 + typeLength;
        var token = new byte[payloadLength + TokenMacBytes];
        token[0] = TokenVersion;
        token[1] = Flags(query);
        BinaryPrimitives.WriteInt64LittleEndian(token.AsSpan(2), last.Ticks);
        Encoding.UTF8.GetBytes(last.Type, token.AsSpan(10));
        Mac(token.AsSpan(0, payloadLength), fingerprint, token.AsSpan(payloadLength));
        return Base64Url.EncodeToString(token);
    }

    /// <summary>
    /// The position <see cref="TimeSeriesQuery.Continuation"/> resumes after, or <c>null</c> for a first page.
    /// </summary>
    /// <exception cref="InvalidContinuationTokenException">The token is malformed, altered, from another
    /// version or another query, or points outside the query's range.</exception>
    public static TimeSeriesPosition? Decode(TimeSeriesQuery query)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.Continuation is null)
        {
            return null;
        }
        byte[] token;
        try
        {
            token = Base64Url.DecodeFromChars(query.Continuation);
        }
        catch (FormatException e)
        {
            throw new InvalidContinuationTokenException("The continuation token is not valid base64url.", e);
        }
        if (token.Length < 2 + 8 + 1 + TokenMacBytes || token[0] != TokenVersion)
        {
            throw new InvalidContinuationTokenException("The continuation token is malformed or from another version.");
        }
        var payloadLength = token.Length - TokenMacBytes;
        Span<byte> mac = stackalloc byte[TokenMacBytes];
        Mac(token.AsSpan(0, payloadLength), Fingerprint(query), mac);
        if (!mac.SequenceEqual(token.AsSpan(payloadLength)) || token[1] != Flags(query))
        {
            throw new InvalidContinuationTokenException("The continuation token was altered or belongs to another query.");
        }
        var ticks = BinaryPrimitives.ReadInt64LittleEndian(token.AsSpan(2));
        var (from, to) = Range(query);
        if (ticks < from || ticks > to)
        {
            throw new InvalidContinuationTokenException("The continuation token points outside the query range.");
        }
        string type;
        try
        {
            type = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(token.AsSpan(10, payloadLength - 10));
        }
        catch (ArgumentException e)
        {
            throw new InvalidContinuationTokenException("The continuation token is malformed.", e);
        }
        return new TimeSeriesPosition(ticks, type);
    }

    /// <summary>The query's range in UTC ticks, open ends made explicit.</summary>
    private static (long From, long To) Range(TimeSeriesQuery query) =>
        (query.From?.UtcTicks ?? 0, query.To?.UtcTicks ?? DateTimeOffset.MaxValue.UtcTicks);

    private static byte[] Fingerprint(TimeSeriesQuery query)
    {
        var (from, to) = Range(query);
        return Encoding.UTF8.GetBytes($"{query.Id}\0{query.Type}\0{query.Type is null}\0{from}\0{to}\0{query.Descending}");
    }

    private static byte Flags(TimeSeriesQuery query) => (byte)((query.Descending ? 1 : 0) | (query.Type is null ? 0 : 2));

    private static void Mac(ReadOnlySpan<byte> payload, byte[] fingerprint, Span<byte> destination)
    {
        var input = new byte[payload.Length + fingerprint.Length];
        payload.CopyTo(input);
        fingerprint.CopyTo(input.AsSpan(payload.Length));
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(input, hash);
        hash[..destination.Length].CopyTo(destination);
    }
}
