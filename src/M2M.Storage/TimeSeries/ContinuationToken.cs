using System.Buffers.Binary;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace M2M.Storage.TimeSeries;

/// <summary>
/// The position of a record in the order of a series (time, type, discriminator; see
/// <see cref="RecordIdentity"/>): what a continuation token points at.
/// </summary>
public readonly record struct SeriesPosition(long Ticks, string Type, long Discriminator);

/// <summary>
/// The continuation-token codec of time-series queries, common to every backend: a token encodes the
/// <see cref="SeriesPosition"/> of the last record of a page, never an offset, and is bound to its query.
/// </summary>
/// <remarks>
/// <c>base64url(version u8 │ flags u8 │ ticks i64 LE │ discriminator i64 LE │ type UTF-8 │ mac[8])</c>, where
/// <c>mac</c> is the first 8 bytes of SHA-256(payload │ query fingerprint) and the fingerprint is made of the
/// id, type, range and order. The mac is not a secret: it catches corrupted, hand-edited and cross-query
/// tokens; a forged token can only point inside the same query. Version 1 tokens (before records had a
/// discriminator) are refused with <see cref="InvalidContinuationTokenException"/>: the client starts over.
/// </remarks>
public static class ContinuationToken
{
    /// <summary>Current token version (1 had no discriminator).</summary>
    public const byte Version = 2;

    private const int MacBytes = 8;
    private const int HeaderBytes = 2 + 8 + 8;

    /// <summary>The lower bound of a query in UTC ticks (<c>From</c>, or the earliest time).</summary>
    public static long FromTicks(TimeSeriesQuery query) => query.From?.UtcTicks ?? 0;

    /// <summary>The upper bound of a query in UTC ticks, inclusive (<c>To</c>, or the latest time).</summary>
    public static long ToTicks(TimeSeriesQuery query) => query.To?.UtcTicks ?? DateTimeOffset.MaxValue.UtcTicks;

    /// <summary>The token of the page that follows <paramref name="last"/>, the last record returned by <paramref name="query"/>.</summary>
    public static string Encode(TimeSeriesQuery query, SeriesPosition last)
    {
        ArgumentNullException.ThrowIfNull(query);
        var fingerprint = Fingerprint(query);
        var typeLength = Encoding.UTF8.GetByteCount(last.Type);
        var payloadLength = HeaderBytes + typeLength;
        var token = new byte[payloadLength + MacBytes];
        token[0] = Version;
        token[1] = Flags(query);
        BinaryPrimitives.WriteInt64LittleEndian(token.AsSpan(2), last.Ticks);
        BinaryPrimitives.WriteInt64LittleEndian(token.AsSpan(10), last.Discriminator);
        Encoding.UTF8.GetBytes(last.Type, token.AsSpan(HeaderBytes));
        Mac(token.AsSpan(0, payloadLength), fingerprint, token.AsSpan(payloadLength));
        return Base64Url.EncodeToString(token);
    }

    /// <summary>The position <paramref name="query"/>'s <see cref="TimeSeriesQuery.Continuation"/> points at.</summary>
    /// <exception cref="InvalidContinuationTokenException">Malformed, altered, from an older version or from another query.</exception>
    public static SeriesPosition Decode(TimeSeriesQuery query)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(query.Continuation);
        byte[] token;
        try
        {
            token = Base64Url.DecodeFromChars(query.Continuation);
        }
        catch (FormatException e)
        {
            throw new InvalidContinuationTokenException("The continuation token is not valid base64url.", e);
        }
        if (token.Length < HeaderBytes + 1 + MacBytes || token[0] != Version)
        {
            throw new InvalidContinuationTokenException("The continuation token is malformed or from another version.");
        }
        var payloadLength = token.Length - MacBytes;
        Span<byte> mac = stackalloc byte[MacBytes];
        Mac(token.AsSpan(0, payloadLength), Fingerprint(query), mac);
        if (!mac.SequenceEqual(token.AsSpan(payloadLength)) || token[1] != Flags(query))
        {
            throw new InvalidContinuationTokenException("The continuation token was altered or belongs to another query.");
        }
        var ticks = BinaryPrimitives.ReadInt64LittleEndian(token.AsSpan(2));
        if (ticks < FromTicks(query) || ticks > ToTicks(query))
        {
            throw new InvalidContinuationTokenException("The continuation token points outside the query range.");
        }
        var discriminator = BinaryPrimitives.ReadInt64LittleEndian(token.AsSpan(10));
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
        return new SeriesPosition(ticks, type, discriminator);
    }

    private static byte[] Fingerprint(TimeSeriesQuery query) =>
        Encoding.UTF8.GetBytes($"{query.Id}\0{query.Type}\0{query.Type is null}\0{FromTicks(query)}\0{ToTicks(query)}\0{query.Descending}");

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
