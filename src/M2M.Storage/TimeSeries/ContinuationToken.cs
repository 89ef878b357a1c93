using System.Buffers.Binary;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace M2M.Storage.TimeSeries;

/// <summary>
/// Where a page stopped: the time (UTC ticks), type and content discriminator of its last record — its place
/// in the order every backend follows (see <see cref="RecordIdentity"/>).
/// </summary>
public readonly record struct TimeSeriesPosition(long Ticks, string Type, long Discriminator);

/// <summary>
/// The continuation tokens of <see cref="ITimeSeriesStore.QueryAsync"/>, shared by every backend: a
/// token is opaque to the caller, carries the position of the last record returned and is bound to
/// the query that produced it (series, type filter, range, order), so a token replayed with another
/// query, altered or corrupted is refused with <see cref="InvalidContinuationTokenException"/>.
/// </summary>
/// <remarks>
/// Token: base64url( version u8 | flags u8 | time i64 LE | discriminator i64 LE | type UTF-8 | mac[8] ),
/// where mac is the first 8 bytes of SHA-256(payload | query fingerprint). The mac is not a secret: it
/// catches corrupted, hand-edited and cross-query tokens; a forged token can only point into the same
/// query. Version 1 (before records had a content discriminator: time and type only) is refused like any
/// other version: the client starts its paging over.
/// </remarks>
public static class ContinuationToken
{
    private const byte TokenVersion = 2;
    private const int TokenMacBytes = 8;
    private const int HeaderBytes = 2 + 8 + 8;

    /// <summary>The token of the page after the one that ended at <paramref name="last"/>.</summary>
    public static string Encode(TimeSeriesQuery query, TimeSeriesPosition last)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(last.Type);
        var fingerprint = Fingerprint(query);
        var typeLength = Encoding.UTF8.GetByteCount(last.Type);
        var payloadLength = HeaderBytes + typeLength;
        var token = new byte[payloadLength + TokenMacBytes];
        token[0] = TokenVersion;
        token[1] = Flags(query);
        BinaryPrimitives.WriteInt64LittleEndian(token.AsSpan(2), last.Ticks);
        BinaryPrimitives.WriteInt64LittleEndian(token.AsSpan(10), last.Discriminator);
        Encoding.UTF8.GetBytes(last.Type, token.AsSpan(HeaderBytes));
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
        if (token.Length < HeaderBytes + 1 + TokenMacBytes || token[0] != TokenVersion)
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
            type = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(token.AsSpan(HeaderBytes, payloadLength - HeaderBytes));
        }
        catch (ArgumentException e)
        {
            throw new InvalidContinuationTokenException("The continuation token is malformed.", e);
        }
        if (query.Type is not null && type != query.Type)
        {
            throw new InvalidContinuationTokenException("The continuation token belongs to another query.");
        }
        return new TimeSeriesPosition(ticks, type, BinaryPrimitives.ReadInt64LittleEndian(token.AsSpan(10)));
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
