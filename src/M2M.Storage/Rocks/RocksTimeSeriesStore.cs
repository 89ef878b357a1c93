using System.Buffers;
using System.Buffers.Binary;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using M2M.Storage.TimeSeries;
using RocksDbSharp;

namespace M2M.Storage.Rocks;

/// <summary>
/// Time series in the embedded RocksDB database. Records are keyed by month first, so a month is one
/// contiguous key range per column family and retention drops it with one range deletion.
/// Layout: <c>docs/storage-layout.md</c> and <see cref="SeriesKeys"/>.
/// </summary>
/// <remarks>
/// Every method completes synchronously: RocksDB calls block for the time of a memtable access or,
/// for writes, one WAL append (and fsync when <see cref="Durability.Synced"/>). Writes are serialized
/// by a lock because <c>ts_latest</c> is a read-compare-write; use one instance per
/// <see cref="RocksStore"/> (the DI registration does). Queries take no lock.
/// <para>
/// Deletions and <c>ts_latest</c>: explicit deletions (<see cref="DeleteAsync"/>,
/// <see cref="DeleteRangeAsync"/>) remove data the caller wants gone, so a latest value they delete
/// is replaced by the newest remaining record of that type (or removed). Retention
/// (<see cref="DropMonthAsync"/>) keeps latest values: they are the device's last known state, and a
/// device silent for longer than the retention period still shows where it was last.
/// </para>
/// </remarks>
public sealed class RocksTimeSeriesStore : ITimeSeriesStore
{
    private const byte TokenVersion = 1;
    private const int TokenMacBytes = 8;
    private const int DeleteChunk = 10_000;

    private readonly RocksStore _store;
    private readonly RocksDb _db;
    private readonly ColumnFamilyHandle _series;
    private readonly ColumnFamilyHandle _byType;
    private readonly ColumnFamilyHandle _latest;
    private readonly ColumnFamilyHandle _meta;
    private readonly ReadOptions _readOptions = new();
    private readonly Lock _writeLock = new();

    public RocksTimeSeriesStore(RocksStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
        _db = store.Db;
        _series = store.Family(RocksStore.Families.Series);
        _byType = store.Family(RocksStore.Families.SeriesByType);
        _latest = store.Family(RocksStore.Families.SeriesLatest);
        _meta = store.Family(RocksStore.Families.Meta);
    }

    public ValueTask SaveAsync(TimeSeriesRecord record, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Save([record]);
        return ValueTask.CompletedTask;
    }

    public ValueTask SaveManyAsync(IReadOnlyList<TimeSeriesRecord> records, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(records);
        cancellationToken.ThrowIfCancellationRequested();
        Save(records);
        return ValueTask.CompletedTask;
    }

    public ValueTask<TimeSeriesPage> QueryAsync(TimeSeriesQuery query, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(Query(query));
    }

    public ValueTask<IReadOnlyList<TimeSeriesRecord>> GetLatestAsync(string id, CancellationToken cancellationToken = default)
    {
        TimeSeriesLimits.ValidateId(id);
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult<IReadOnlyList<TimeSeriesRecord>>(ReadLatest(id));
    }

    public ValueTask<TimeSeriesRecord?> GetAsync(string id, string type, DateTimeOffset time, CancellationToken cancellationToken = default)
    {
        TimeSeriesLimits.ValidateId(id);
        TimeSeriesLimits.ValidateType(type);
        cancellationToken.ThrowIfCancellationRequested();
        Span<byte> key = stackalloc byte[SeriesKeys.MaxKeyBytes];
        var ticks = time.UtcTicks;
        var length = SeriesKeys.WriteSeriesKey(key, id, type, ticks);
        var value = _db.Get(key[..length], _series, _readOptions);
        TimeSeriesRecord? record = value is null ? null : new TimeSeriesRecord(id, type, new DateTimeOffset(ticks, TimeSpan.Zero), Encoding.UTF8.GetString(value));
        return ValueTask.FromResult(record);
    }

    public ValueTask<bool> DeleteAsync(string id, string type, DateTimeOffset time, CancellationToken cancellationToken = default)
    {
        TimeSeriesLimits.ValidateId(id);
        TimeSeriesLimits.ValidateType(type);
        cancellationToken.ThrowIfCancellationRequested();
        var ticks = time.UtcTicks;
        var key = new byte[SeriesKeys.MaxKeyBytes];
        lock (_writeLock)
        {
            var length = SeriesKeys.WriteSeriesKey(key, id, type, ticks);
            if (!_db.HasKey(key.AsSpan(0, length), _series, _readOptions))
            {
                return ValueTask.FromResult(false);
            }
            using var batch = new WriteBatch();
            batch.Delete(key.AsSpan(0, length), _series);
            length = SeriesKeys.WriteTypeKey(key, id, type, ticks);
            batch.Delete(key.AsSpan(0, length), _byType);
            FixLatestAfterDelete(batch, id, type, ticks, ticks);
            _db.Write(batch, _store.WriteOptions);
        }
        return ValueTask.FromResult(true);
    }

    public ValueTask DeleteRangeAsync(string id, string? type, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken = default)
    {
        TimeSeriesLimits.ValidateId(id);
        if (type is not null)
        {
            TimeSeriesLimits.ValidateType(type);
        }
        TimeSeriesLimits.ValidateRange(from, to);
        cancellationToken.ThrowIfCancellationRequested();
        DeleteRange(id, type, from.UtcTicks, to.UtcTicks);
        return ValueTask.CompletedTask;
    }

    public ValueTask<IReadOnlyList<DateOnly>> GetMonthsAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult<IReadOnlyList<DateOnly>>([.. ReadMonths().Select(SeriesKeys.ToDate)]);
    }

    public ValueTask DropMonthAsync(DateOnly month, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var m = SeriesKeys.MonthOf(month);
        // yyyymm + 1 may be "month 13": still above every key of this month and below the next one.
        var start = SeriesKeys.MonthBound(m);
        var end = SeriesKeys.MonthBound(m + 1);
        lock (_writeLock)
        {
            using var batch = new WriteBatch();
            batch.DeleteRange(start, (ulong)start.Length, end, (ulong)end.Length, _series);
            batch.DeleteRange(start, (ulong)start.Length, end, (ulong)end.Length, _byType);
            batch.Delete(SeriesKeys.MonthIndexKey(m), _meta);
            _db.Write(batch, _store.WriteOptions);
        }
        return ValueTask.CompletedTask;
    }

    private void Save(IReadOnlyList<TimeSeriesRecord> records)
    {
        for (var i = 0; i < records.Count; i++)
        {
            TimeSeriesLimits.ValidateRecord(records[i]);
        }
        if (records.Count == 0)
        {
            return;
        }

        var key = ArrayPool<byte>.Shared.Rent(SeriesKeys.MaxKeyBytes);
        var value = ArrayPool<byte>.Shared.Rent(4096);
        try
        {
            using var batch = new WriteBatch();
            // Newest record of each (id, type) in this batch; the last one wins among equal times, as in ts.
            var newest = new Dictionary<(string Id, string Type), int>();
            uint lastMonth = 0;
            var months = new HashSet<uint>();
            for (var i = 0; i < records.Count; i++)
            {
                var record = records[i];
                var ticks = record.Time.UtcTicks;
                var dataLength = EncodeData(record.Data, ref value);
                var data = value.AsSpan(0, dataLength);

                var length = SeriesKeys.WriteSeriesKey(key, record.Id, record.Type, ticks);
                batch.Put(key.AsSpan(0, length), data, _series);
                length = SeriesKeys.WriteTypeKey(key, record.Id, record.Type, ticks);
                batch.Put(key.AsSpan(0, length), data, _byType);

                var month = SeriesKeys.MonthOf(ticks);
                if (month != lastMonth)
                {
                    months.Add(month);
                    lastMonth = month;
                }
                ref var slot = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(newest, (record.Id, record.Type), out var exists);
                if (!exists || records[slot].Time.UtcTicks <= ticks)
                {
                    slot = i;
                }
            }

            // The month index is rewritten by every batch that touches a month: a put of an empty value
            // is cheaper than keeping a cache coherent with concurrent month drops.
            foreach (var month in months)
            {
                batch.Put(SeriesKeys.MonthIndexKey(month), Array.Empty<byte>(), _meta);
            }

            lock (_writeLock)
            {
                foreach (var (series, index) in newest)
                {
                    var record = records[index];
                    var ticks = record.Time.UtcTicks;
                    var length = SeriesKeys.WriteLatestKey(key, series.Id, series.Type);
                    var current = _db.Get(key.AsSpan(0, length), _latest, _readOptions);
                    if (current is not null && SeriesKeys.DecodeTime(current) > ticks)
                    {
                        continue;
                    }
                    var dataLength = EncodeData(record.Data, ref value, SeriesKeys.TimeBytes);
                    SeriesKeys.WriteTime(value, ticks);
                    batch.Put(key.AsSpan(0, length), value.AsSpan(0, SeriesKeys.TimeBytes + dataLength), _latest);
                }
                _db.Write(batch, _store.WriteOptions);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(value);
            ArrayPool<byte>.Shared.Return(key);
        }
    }

    /// <summary>Writes <paramref name="data"/> as UTF-8 at <paramref name="offset"/>, growing the pooled buffer when needed.</summary>
    private static int EncodeData(string data, ref byte[] buffer, int offset = 0)
    {
        var max = Encoding.UTF8.GetMaxByteCount(data.Length);
        if (buffer.Length < offset + max)
        {
            var needed = offset + Encoding.UTF8.GetByteCount(data);
            if (buffer.Length < needed)
            {
                ArrayPool<byte>.Shared.Return(buffer);
                buffer = ArrayPool<byte>.Shared.Rent(needed);
            }
        }
        return Encoding.UTF8.GetBytes(data, buffer.AsSpan(offset));
    }

    private List<uint> ReadMonths()
    {
        var months = new List<uint>();
        using var iterator = _db.NewIterator(_meta, _readOptions);
        var prefix = SeriesKeys.MonthIndexPrefix;
        for (iterator.Seek(prefix); iterator.Valid(); iterator.Next())
        {
            var key = iterator.GetKeySpan();
            if (!key.StartsWith(prefix) || key.Length != prefix.Length + SeriesKeys.MonthBytes)
            {
                break;
            }
            months.Add(BinaryPrimitives.ReadUInt32BigEndian(key[prefix.Length..]));
        }
        return months;
    }

    private List<TimeSeriesRecord> ReadLatest(string id)
    {
        var result = new List<TimeSeriesRecord>();
        var prefix = SeriesKeys.LatestPrefix(id);
        using var iterator = _db.NewIterator(_latest, _readOptions);
        for (iterator.Seek(prefix); iterator.Valid(); iterator.Next())
        {
            var key = iterator.GetKeySpan();
            if (!key.StartsWith(prefix))
            {
                break;
            }
            var value = iterator.GetValueSpan();
            result.Add(new TimeSeriesRecord(
                id,
                Encoding.UTF8.GetString(key[prefix.Length..]),
                new DateTimeOffset(SeriesKeys.DecodeTime(value), TimeSpan.Zero),
                Encoding.UTF8.GetString(value[SeriesKeys.TimeBytes..])));
        }
        return result;
    }

    private TimeSeriesPage Query(TimeSeriesQuery query)
    {
        TimeSeriesLimits.ValidateQuery(query);
        var from = query.From?.UtcTicks ?? 0;
        var to = query.To?.UtcTicks ?? DateTimeOffset.MaxValue.UtcTicks;
        var fingerprint = Fingerprint(query, from, to);
        var resume = query.Continuation is null ? (Position?)null : DecodeToken(query, fingerprint, from, to);

        var months = ReadMonths();
        var firstMonth = SeriesKeys.MonthOf(from);
        var lastMonth = SeriesKeys.MonthOf(to);
        months.RemoveAll(m => m < firstMonth || m > lastMonth);
        if (query.Descending)
        {
            months.Reverse();
        }

        var family = query.Type is null ? _series : _byType;
        var items = new List<TimeSeriesRecord>(Math.Min(query.Limit + 1, 1024));
        var lower = new byte[SeriesKeys.MaxKeyBytes];
        var upper = new byte[SeriesKeys.MaxKeyBytes];
        var resumeKey = new byte[SeriesKeys.MaxKeyBytes];
        var resumeMonth = resume is { } r ? SeriesKeys.MonthOf(r.Ticks) : 0;

        foreach (var month in months)
        {
            if (resume is not null && (query.Descending ? month > resumeMonth : month < resumeMonth))
            {
                continue;
            }
            var prefixLength = SeriesKeys.WritePrefix(lower, month, query.Id, query.Type);
            lower.AsSpan(0, prefixLength).CopyTo(upper);
            var lowerKey = lower.AsSpan(0, prefixLength + SeriesKeys.WriteTime(lower.AsSpan(prefixLength), from));
            var upperKey = upper.AsSpan(0, prefixLength + SeriesKeys.WriteTime(upper.AsSpan(prefixLength), to + 1));
            var resumeAt = Span<byte>.Empty;
            if (resume is { } position && month == resumeMonth)
            {
                lower.AsSpan(0, prefixLength).CopyTo(resumeKey);
                var length = prefixLength + SeriesKeys.WriteTime(resumeKey.AsSpan(prefixLength), position.Ticks);
                if (query.Type is null)
                {
                    length += Encoding.UTF8.GetBytes(position.Type, resumeKey.AsSpan(length));
                }
                resumeAt = resumeKey.AsSpan(0, length);
            }

            using var iterator = _db.NewIterator(family, _readOptions);
            if (!query.Descending)
            {
                iterator.Seek(resumeAt.IsEmpty ? lowerKey : resumeAt);
                for (; iterator.Valid(); iterator.Next())
                {
                    var key = iterator.GetKeySpan();
                    if (key.SequenceCompareTo(upperKey) >= 0)
                    {
                        break;
                    }
                    if (!resumeAt.IsEmpty && key.SequenceEqual(resumeAt))
                    {
                        continue;
                    }
                    items.Add(ReadRecord(query, key, prefixLength, iterator.GetValueSpan()));
                    if (items.Count > query.Limit)
                    {
                        break;
                    }
                }
            }
            else
            {
                iterator.SeekForPrev(resumeAt.IsEmpty ? upperKey : resumeAt);
                for (; iterator.Valid(); iterator.Prev())
                {
                    var key = iterator.GetKeySpan();
                    if (key.SequenceCompareTo(lowerKey) < 0)
                    {
                        break;
                    }
                    if (key.SequenceCompareTo(upperKey) >= 0 || (!resumeAt.IsEmpty && key.SequenceEqual(resumeAt)))
                    {
                        continue;
                    }
                    items.Add(ReadRecord(query, key, prefixLength, iterator.GetValueSpan()));
                    if (items.Count > query.Limit)
                    {
                        break;
                    }
                }
            }
            if (items.Count > query.Limit)
            {
                break;
            }
        }

        string? continuation = null;
        if (items.Count > query.Limit)
        {
            items.RemoveAt(items.Count - 1);
            var last = items[^1];
            continuation = EncodeToken(query, fingerprint, last.Time.UtcTicks, last.Type);
        }
        return new TimeSeriesPage(items, continuation);
    }

    private static TimeSeriesRecord ReadRecord(TimeSeriesQuery query, ReadOnlySpan<byte> key, int prefixLength, ReadOnlySpan<byte> value)
    {
        var ticks = SeriesKeys.DecodeTime(key[prefixLength..]);
        var type = query.Type ?? Encoding.UTF8.GetString(key[(prefixLength + SeriesKeys.TimeBytes)..]);
        return new TimeSeriesRecord(query.Id, type, new DateTimeOffset(ticks, TimeSpan.Zero), Encoding.UTF8.GetString(value));
    }

    private void DeleteRange(string id, string? type, long from, long to)
    {
        var months = ReadMonths();
        months.RemoveAll(m => m < SeriesKeys.MonthOf(from) || m > SeriesKeys.MonthOf(to));
        var family = type is null ? _series : _byType;
        var lower = new byte[SeriesKeys.MaxKeyBytes];
        var upper = new byte[SeriesKeys.MaxKeyBytes];
        var other = new byte[SeriesKeys.MaxKeyBytes];

        // The whole deletion holds the write lock: a record saved meanwhile must not be half-deleted, and
        // the latest values are fixed against the final state. Large ranges are written in chunks.
        lock (_writeLock)
        {
            var batch = new WriteBatch();
            try
            {
                foreach (var month in months)
                {
                    var prefixLength = SeriesKeys.WritePrefix(lower, month, id, type);
                    lower.AsSpan(0, prefixLength).CopyTo(upper);
                    var lowerKey = lower.AsSpan(0, prefixLength + SeriesKeys.WriteTime(lower.AsSpan(prefixLength), from));
                    var upperKey = upper.AsSpan(0, prefixLength + SeriesKeys.WriteTime(upper.AsSpan(prefixLength), to + 1));
                    using var iterator = _db.NewIterator(family, _readOptions);
                    for (iterator.Seek(lowerKey); iterator.Valid(); iterator.Next())
                    {
                        var key = iterator.GetKeySpan();
                        if (key.SequenceCompareTo(upperKey) >= 0)
                        {
                            break;
                        }
                        var ticks = SeriesKeys.DecodeTime(key[prefixLength..]);
                        batch.Delete(key, family);
                        if (type is null)
                        {
                            var recordType = Encoding.UTF8.GetString(key[(prefixLength + SeriesKeys.TimeBytes)..]);
                            batch.Delete(other.AsSpan(0, SeriesKeys.WriteTypeKey(other, id, recordType, ticks)), _byType);
                        }
                        else
                        {
                            batch.Delete(other.AsSpan(0, SeriesKeys.WriteSeriesKey(other, id, type, ticks)), _series);
                        }
                        if (batch.Count() >= DeleteChunk)
                        {
                            _db.Write(batch, _store.WriteOptions);
                            batch.Dispose();
                            batch = new WriteBatch();
                        }
                    }
                }

                var types = type is not null ? [type] : ReadLatest(id).Select(r => r.Type).ToList();
                foreach (var t in types)
                {
                    FixLatestAfterDelete(batch, id, t, from, to);
                }
                _db.Write(batch, _store.WriteOptions);
            }
            finally
            {
                batch.Dispose();
            }
        }
    }

    /// <summary>
    /// When the latest value of <c>(id, type)</c> lies in the deleted range <c>[from, to]</c>, replaces it
    /// with the newest record before <paramref name="from"/> (the latest value is the newest record, so
    /// nothing after <paramref name="to"/> exists), or deletes it. Called under the write lock.
    /// </summary>
    private void FixLatestAfterDelete(WriteBatch batch, string id, string type, long from, long to)
    {
        var key = new byte[SeriesKeys.MaxKeyBytes];
        var length = SeriesKeys.WriteLatestKey(key, id, type);
        var latestKey = key.AsSpan(0, length);
        var current = _db.Get(latestKey, _latest, _readOptions);
        if (current is null)
        {
            return;
        }
        var latestTicks = SeriesKeys.DecodeTime(current);
        if (latestTicks < from || latestTicks > to)
        {
            return;
        }
        if (FindNewestBefore(id, type, from) is { } previous)
        {
            batch.Put(latestKey, previous, _latest);
        }
        else
        {
            batch.Delete(latestKey, _latest);
        }
    }

    /// <summary>The <c>ts_latest</c> value (time | data) of the newest record of <c>(id, type)</c> strictly before <paramref name="before"/>.</summary>
    private byte[]? FindNewestBefore(string id, string type, long before)
    {
        var months = ReadMonths();
        var prefix = new byte[SeriesKeys.MaxKeyBytes];
        var seek = new byte[SeriesKeys.MaxKeyBytes];
        using var iterator = _db.NewIterator(_byType, _readOptions);
        for (var i = months.Count - 1; i >= 0; i--)
        {
            if (months[i] > SeriesKeys.MonthOf(before))
            {
                continue;
            }
            var prefixLength = SeriesKeys.WritePrefix(prefix, months[i], id, type);
            prefix.AsSpan(0, prefixLength).CopyTo(seek);
            var seekKey = seek.AsSpan(0, prefixLength + SeriesKeys.WriteTime(seek.AsSpan(prefixLength), before));
            iterator.SeekForPrev(seekKey);
            if (iterator.Valid() && iterator.GetKeySpan().SequenceEqual(seekKey))
            {
                iterator.Prev();
            }
            if (iterator.Valid() && iterator.GetKeySpan().StartsWith(prefix.AsSpan(0, prefixLength)))
            {
                var key = iterator.GetKeySpan();
                var value = iterator.GetValueSpan();
                var result = new byte[SeriesKeys.TimeBytes + value.Length];
                key[prefixLength..].CopyTo(result);
                value.CopyTo(result.AsSpan(SeriesKeys.TimeBytes));
                return result;
            }
        }
        return null;
    }

    private readonly record struct Position(long Ticks, string Type);

    // Token: base64url( version u8 | flags u8 | time i64 LE | type UTF-8 | mac[8] ), where mac is the
    // first 8 bytes of SHA-256(payload | query fingerprint). The mac is not a secret: it catches
    // corrupted, hand-edited and cross-query tokens; a forged token can only point into the same query.
    private static byte[] Fingerprint(TimeSeriesQuery query, long from, long to) =>
        Encoding.UTF8.GetBytes($"{query.Id}\0{query.Type}\0{query.Type is null}\0{from}\0{to}\0{query.Descending}");

    private static string EncodeToken(TimeSeriesQuery query, byte[] fingerprint, long ticks, string type)
    {
        var typeLength = Encoding.UTF8.GetByteCount(type);
        var payloadLength = 2 + 8 + typeLength;
        var token = new byte[payloadLength + TokenMacBytes];
        token[0] = TokenVersion;
        token[1] = Flags(query);
        BinaryPrimitives.WriteInt64LittleEndian(token.AsSpan(2), ticks);
        Encoding.UTF8.GetBytes(type, token.AsSpan(10));
        Mac(token.AsSpan(0, payloadLength), fingerprint, token.AsSpan(payloadLength));
        return Base64Url.EncodeToString(token);
    }

    private static Position DecodeToken(TimeSeriesQuery query, byte[] fingerprint, long from, long to)
    {
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
        Mac(token.AsSpan(0, payloadLength), fingerprint, mac);
        if (!mac.SequenceEqual(token.AsSpan(payloadLength)) || token[1] != Flags(query))
        {
            throw new InvalidContinuationTokenException("The continuation token was altered or belongs to another query.");
        }
        var ticks = BinaryPrimitives.ReadInt64LittleEndian(token.AsSpan(2));
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
        return new Position(ticks, type);
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
