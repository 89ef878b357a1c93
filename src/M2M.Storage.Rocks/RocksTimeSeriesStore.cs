using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using M2M.Storage.Forwarding;
using M2M.Storage.TimeSeries;
using RocksDbSharp;

namespace M2M.Storage.Rocks;

/// <summary>
/// Time series in the embedded RocksDB database. Records are keyed by month first, so a month is one
/// contiguous key range per column family and retention drops it with one range deletion.
/// Layout: <c>docs/storage-layout.md</c> and <see cref="SeriesKeys"/>. Keys end with the record's content
/// discriminator (<see cref="RecordIdentity"/>): an identical record saved again is stored once, records that
/// differ only in data are all kept.
/// </summary>
/// <remarks>
/// Every method completes synchronously: RocksDB calls block for the time of a memtable access or,
/// for writes, one WAL append (and fsync when <see cref="Durability.Synced"/>). Writes are serialized
/// by a lock because <c>ts_latest</c> is a read-compare-write; the lock and the cache of latest positions
/// belong to the <see cref="RocksStore"/>, so instances over the same store stay correct (the DI
/// registration makes one). Queries take no lock.
/// <para>
/// Deletions and <c>ts_latest</c>: explicit deletions (<see cref="DeleteAsync"/>,
/// <see cref="DeleteRangeAsync"/>) remove data the caller wants gone, so a latest value they delete
/// is replaced by the newest remaining record of that type (or removed). Retention
/// (<see cref="DropMonthAsync"/>) keeps latest values: they are the device's last known state, and a
/// device silent for longer than the retention period still shows where it was last.
/// </para>
/// </remarks>
public sealed partial class RocksTimeSeriesStore : ITimeSeriesStore, IPipelinedTimeSeriesStore
{
    private const int DeleteChunk = 10_000;
    private const int StepsBeforeSeek = 16;

    private readonly RocksStore _store;
    private readonly RocksDb _db;
    private readonly ColumnFamilyHandle _series;
    private readonly ColumnFamilyHandle _byType;
    private readonly ColumnFamilyHandle _latest;
    private readonly ColumnFamilyHandle _meta;
    private readonly ReadOptions _readOptions = new();
    private readonly Lock _writeLock;

    /// <summary>
    /// Stored <c>ts_latest</c> position (time, discriminator) per (id, type), so that a batch does not read
    /// <c>ts_latest</c> back for series it has seen. Guarded by <see cref="_writeLock"/> (every change of
    /// <c>ts_latest</c> happens under it): entries are set after a commit, removed by deletions, and the whole
    /// cache is dropped when it reaches <see cref="LatestCacheCapacity"/> entries.
    /// </summary>
    private readonly Dictionary<(string Id, string Type), Instant> _latestPositions;
    private const int LatestCacheCapacity = 100_000;
    private SaveBuffers? _spareBuffers;
    private SaveBuffers? _secondSpareBuffers;

    /// <summary>Write lock and latest-position cache of each open <see cref="RocksStore"/>, shared by its instances.</summary>
    private static readonly ConditionalWeakTable<RocksStore, WriteState> WriteStates = new();

    internal sealed class WriteState
    {
        public readonly Lock Lock = new();
        public readonly Dictionary<(string Id, string Type), Instant> LatestPositions = [];

        /// <summary>Last forwarding feed sequence per domain, loaded on first use (<see cref="RocksFeed"/>); under <see cref="Lock"/>.</summary>
        public readonly Dictionary<Guid, long> FeedLast = [];
    }

    /// <summary>A record's place in the order of one (id, type): time, then discriminator.</summary>
    internal readonly record struct Instant(long Ticks, long Discriminator)
    {
        public static readonly Instant Min = new(long.MinValue, long.MinValue);

        public bool IsAfterOrAt(Instant other) => RecordIdentity.Supersedes(Ticks, Discriminator, other.Ticks, other.Discriminator);
    }

    /// <summary>The write lock and caches shared by every writer of <paramref name="store"/> (the forwarding feed takes the same lock).</summary>
    internal static WriteState StateOf(RocksStore store) => WriteStates.GetValue(store, _ => new WriteState());

    private readonly WriteState _state;

    public RocksTimeSeriesStore(RocksStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
        _db = store.Db;
        _series = store.Family(RocksStore.Families.Series);
        _byType = store.Family(RocksStore.Families.SeriesByType);
        _latest = store.Family(RocksStore.Families.SeriesLatest);
        _meta = store.Family(RocksStore.Families.Meta);
        var state = StateOf(store);
        _state = state;
        _writeLock = state.Lock;
        _latestPositions = state.LatestPositions;
    }

    public ValueTask SaveAsync(TimeSeriesRecord record, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Save([record], null);
        return ValueTask.CompletedTask;
    }

    public ValueTask SaveManyAsync(IReadOnlyList<TimeSeriesRecord> records, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(records);
        cancellationToken.ThrowIfCancellationRequested();
        Save(records, null);
        return ValueTask.CompletedTask;
    }

    public ValueTask SaveManyAsync(IReadOnlyList<TimeSeriesRecord> records, IReadOnlyList<FeedGroup> feed, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(records);
        ArgumentNullException.ThrowIfNull(feed);
        cancellationToken.ThrowIfCancellationRequested();
        Save(records, feed);
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

    public ValueTask<IReadOnlyList<TimeSeriesRecord>> GetAsync(string id, string type, DateTimeOffset time, CancellationToken cancellationToken = default)
    {
        TimeSeriesLimits.ValidateId(id);
        TimeSeriesLimits.ValidateType(type);
        cancellationToken.ThrowIfCancellationRequested();
        var ticks = time.UtcTicks;
        var instant = new DateTimeOffset(ticks, TimeSpan.Zero);
        var records = new List<TimeSeriesRecord>(1);
        Span<byte> prefix = stackalloc byte[SeriesKeys.MaxKeyBytes];
        prefix = prefix[..SeriesKeys.WriteSeriesInstantPrefix(prefix, id, type, ticks)];
        // Every record of (id, type) at this instant, in discriminator order (type has no 0x00: the prefix
        // matches no other type).
        using var iterator = _db.NewIterator(_series, _readOptions);
        for (iterator.Seek(prefix); iterator.Valid(); iterator.Next())
        {
            var key = iterator.GetKeySpan();
            if (!key.StartsWith(prefix))
            {
                break;
            }
            records.Add(new TimeSeriesRecord(id, type, instant, Encoding.UTF8.GetString(iterator.GetValueSpan())));
        }
        return ValueTask.FromResult<IReadOnlyList<TimeSeriesRecord>>(records);
    }

    public ValueTask<int> DeleteAsync(string id, string type, DateTimeOffset time, CancellationToken cancellationToken = default)
    {
        TimeSeriesLimits.ValidateId(id);
        TimeSeriesLimits.ValidateType(type);
        cancellationToken.ThrowIfCancellationRequested();
        var ticks = time.UtcTicks;
        var prefix = new byte[SeriesKeys.MaxKeyBytes];
        var typeKey = new byte[SeriesKeys.MaxKeyBytes];
        var prefixLength = SeriesKeys.WriteSeriesInstantPrefix(prefix, id, type, ticks);
        var seriesPrefixLength = SeriesKeys.MonthBytes + Encoding.UTF8.GetByteCount(id) + 1;
        var deleted = 0;
        lock (_writeLock)
        {
            using var batch = new WriteBatch();
            using (var iterator = _db.NewIterator(_series, _readOptions))
            {
                for (iterator.Seek(prefix.AsSpan(0, prefixLength)); iterator.Valid(); iterator.Next())
                {
                    var key = iterator.GetKeySpan();
                    if (!key.StartsWith(prefix.AsSpan(0, prefixLength)))
                    {
                        break;
                    }
                    batch.Delete(key, _series);
                    batch.Delete(typeKey.AsSpan(0, SeriesKeys.TypeKeyFromSeriesKey(key, seriesPrefixLength, typeKey)), _byType);
                    deleted++;
                }
            }
            if (deleted == 0)
            {
                return ValueTask.FromResult(0);
            }
            FixLatestAfterDelete(batch, id, type, new Instant(ticks, long.MinValue), new Instant(ticks, long.MaxValue));
            _db.Write(batch, _store.WriteOptions);
        }
        return ValueTask.FromResult(deleted);
    }

    public ValueTask<bool> DeleteRecordAsync(TimeSeriesRecord record, CancellationToken cancellationToken = default)
    {
        TimeSeriesLimits.ValidateRecord(record);
        cancellationToken.ThrowIfCancellationRequested();
        var ticks = record.Time.UtcTicks;
        var data = Encoding.UTF8.GetBytes(record.Data);
        var position = new Instant(ticks, RecordIdentity.Discriminator(data));
        var key = new byte[SeriesKeys.MaxKeyBytes];
        lock (_writeLock)
        {
            var length = SeriesKeys.WriteSeriesKey(key, record.Id, record.Type, ticks, position.Discriminator);
            var stored = _db.Get(key.AsSpan(0, length), _series, _readOptions);
            // Another data under the same key (a discriminator collision) is another record: not deleted.
            if (stored is null || !stored.AsSpan().SequenceEqual(data))
            {
                return ValueTask.FromResult(false);
            }
            using var batch = new WriteBatch();
            batch.Delete(key.AsSpan(0, length), _series);
            length = SeriesKeys.WriteTypeKey(key, record.Id, record.Type, ticks, position.Discriminator);
            batch.Delete(key.AsSpan(0, length), _byType);
            FixLatestAfterDelete(batch, record.Id, record.Type, position, position);
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
        DeleteRange(id, type, from.UtcTicks, to.UtcTicks, fixLatest: true);
        return ValueTask.CompletedTask;
    }

    public ValueTask<long> ExpireRangeAsync(string id, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken = default)
    {
        TimeSeriesLimits.ValidateId(id);
        TimeSeriesLimits.ValidateRange(from, to);
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(DeleteRange(id, null, from.UtcTicks, to.UtcTicks, fixLatest: false));
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
        // The range tombstones hide the month at once; compacting its range removes it from the files now
        // instead of whenever later compactions reach those levels (a retention run frees its disk space).
        // Outside the write lock: writes go on meanwhile.
        _db.CompactRange(start, end, _series);
        _db.CompactRange(start, end, _byType);
        return ValueTask.CompletedTask;
    }

    private void Save(IReadOnlyList<TimeSeriesRecord> records, IReadOnlyList<FeedGroup>? feed)
    {
        using var commit = Prepare(records, feed);
        commit.Commit();
    }

    /// <inheritdoc />
    /// <remarks>
    /// The preparation (validation, keys and values encoded into the arena, the puts of <c>ts</c>, <c>ts_type</c>
    /// and the month index in key order) takes no lock; <see cref="IPreparedCommit.Commit"/> takes the write lock
    /// for the <c>ts_latest</c> read-compare-write, the feed entries and the write itself.
    /// </remarks>
    public IPreparedCommit Prepare(IReadOnlyList<TimeSeriesRecord> records, IReadOnlyList<FeedGroup>? feed)
    {
        ArgumentNullException.ThrowIfNull(records);
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        for (var i = 0; i < records.Count; i++)
        {
            TimeSeriesLimits.ValidateRecord(records[i]);
        }
        if (records.Count == 0)
        {
            return new PreparedSave(this, null, null, feed, started);
        }

        // Two sets of buffers (write batch, arena of keys and values, per-series dictionary) are kept between
        // calls: one for the commit in flight, one for the batch the writer prepares meanwhile; a third
        // concurrent caller uses its own.
        var buffers = TakeBuffers();
        try
        {
            var batch = buffers.Batch;
            Span<byte> id = stackalloc byte[TimeSeriesLimits.MaxIdBytes];
            Span<byte> type = stackalloc byte[TimeSeriesLimits.MaxTypeBytes];
            var months = buffers.Months;
            var entries = buffers.Entries(records.Count);
            uint month = 0;
            long monthStart = 0, monthEnd = 0;
            string? lastId = null, lastType = null;
            var idLength = 0;
            var typeLength = 0;
            for (var i = 0; i < records.Count; i++)
            {
                var record = records[i];
                var ticks = record.Time.UtcTicks;
                if (ticks < monthStart || ticks >= monthEnd)
                {
                    month = SeriesKeys.MonthOf(ticks, out monthStart, out monthEnd);
                    if (!months.Contains(month))
                    {
                        months.Add(month);
                    }
                }
                if (!ReferenceEquals(record.Id, lastId))
                {
                    idLength = Encoding.UTF8.GetBytes(record.Id, id);
                    lastId = record.Id;
                }
                if (!ReferenceEquals(record.Type, lastType))
                {
                    typeLength = Encoding.UTF8.GetBytes(record.Type, type);
                    lastType = record.Type;
                }
                // Both keys and the value go into the arena: the value is encoded once, there (the discriminator
                // hashes those bytes, ts_latest copies them), and the puts happen below in key order.
                ref var entry = ref entries[i];
                var dataLength = buffers.AppendData(record.Data, out entry.Value);
                entry.ValueLength = dataLength;
                var position = new Instant(ticks, RecordIdentity.Discriminator(buffers.Arena.AsSpan(entry.Value, dataLength)));
                var keys = buffers.Reserve(2 * SeriesKeys.MaxKeyBytes, out var at);
                SeriesKeys.WriteRecordKeys(keys, keys[SeriesKeys.MaxKeyBytes..], month, id[..idLength], type[..typeLength], ticks, position.Discriminator, out var seriesLength, out var typeKeyLength);
                // The type key is moved next to the series key so that the arena holds no gap.
                keys.Slice(SeriesKeys.MaxKeyBytes, typeKeyLength).CopyTo(keys[seriesLength..]);
                buffers.Commit(seriesLength + typeKeyLength);
                entry.SeriesKey = at;
                entry.SeriesKeyLength = seriesLength;
                entry.TypeKey = at + seriesLength;
                entry.TypeKeyLength = typeKeyLength;

                // The newest record of each (id, type) in this batch by (time, discriminator); the last one wins among
                // equal positions (the same key), as in ts.
                var series = buffers.SeriesOf(record.Id, record.Type, i, position, out var added);
                entry.Series = series;
                ref var seen = ref buffers.Series[series];
                if (added)
                {
                    // The id's and the type's bytes, for their ranks and the ts_latest key: those of the ts key (month | id | 0x00 | time | type | 0x00 | disc).
                    seen.IdNumber = buffers.Ids.NumberOf(record.Id, at + SeriesKeys.MonthBytes, idLength);
                    seen.TypeNumber = buffers.Types.NumberOf(record.Type, at + SeriesKeys.MonthBytes + idLength + 1 + SeriesKeys.TimeBytes, typeLength);
                }
                else if (position.IsAfterOrAt(seen.Position))
                {
                    seen.Newest = i;
                    seen.Position = position;
                }
            }

            // The puts go into the batch in key order, per column family: RocksDB inserts a batch into the memtable
            // skip list one entry after the other and remembers where the previous insert ended (its sequential
            // insert splice), so sorted keys are found next to each other instead of each searching the whole list
            // (BENCHMARKS.md, "Writer efficiency": the writer went from 0.33-0.60 to 0.60-1.02 of the raw loop in the
            // same runs). The key order is found as integers (month, id rank, time, type rank, discriminator), not by
            // comparing key bytes: the ids and types of the batch are ranked once by their bytes, records are grouped
            // by (month, id) in linear time and only each group is sorted (SaveBuffers.Sort). Equal keys (the same
            // record twice) keep their order (the index is the last criterion), so the last put wins.
            var arena = buffers.Arena;
            buffers.Ids.Rank(arena);
            buffers.Types.Rank(arena);
            var idRanks = buffers.Ids.Ranks;
            var typeRanks = buffers.Types.Ranks;
            var sortKeys = buffers.Keys(records.Count);
            for (var i = 0; i < records.Count; i++)
            {
                ref readonly var entry = ref entries[i];
                ref readonly var series = ref buffers.Series[entry.Series];
                var key = arena.AsSpan(entry.SeriesKey, entry.SeriesKeyLength);
                sortKeys[i] = new RecordOrder
                {
                    Month = BinaryPrimitives.ReadUInt32BigEndian(key),
                    Id = idRanks[series.IdNumber],
                    Type = typeRanks[series.TypeNumber],
                    Index = i,
                    Time = records[i].Time.UtcTicks,
                    Discriminator = SeriesKeys.DiscriminatorOfKey(key),
                };
            }
            buffers.Sort(records.Count, out var seriesOrder, out var typeOrder);
            foreach (var i in seriesOrder)
            {
                ref readonly var entry = ref entries[i];
                batch.Put(arena.AsSpan(entry.SeriesKey, entry.SeriesKeyLength), arena.AsSpan(entry.Value, entry.ValueLength), _series);
            }
            foreach (var i in typeOrder)
            {
                ref readonly var entry = ref entries[i];
                // ts_type is a key-only index (format 2): typed queries read the data from ts.
                batch.Put(arena.AsSpan(entry.TypeKey, entry.TypeKeyLength), ReadOnlySpan<byte>.Empty, _byType);
            }

            // The month index is rewritten by every batch that touches a month: a put of an empty value
            // is cheaper than keeping a cache coherent with concurrent month drops.
            var monthKey = buffers.SeriesKey.AsSpan();
            for (var i = 0; i < months.Count; i++)
            {
                SeriesKeys.WriteMonthIndexKey(monthKey, months[i], out var length);
                batch.Put(monthKey[..length], ReadOnlySpan<byte>.Empty, _meta);
            }

            return new PreparedSave(this, buffers, entries, feed, started);
        }
        catch
        {
            ReturnBuffers(buffers);
            throw;
        }
    }

    /// <summary>The locked part of a save: <c>ts_latest</c>, the feed entries and the write; returns the write's ticks.</summary>
    private long CommitPrepared(SaveBuffers buffers, ArenaEntry[] entries, IReadOnlyList<FeedGroup>? feed)
    {
        var batch = buffers.Batch;
        var arena = buffers.Arena;
        var series = buffers.Series;
        // Sorted outside the lock: the ts_latest puts also go in key order (id | 0x00 | type, by the ranks of the bytes).
        var order = buffers.LatestOrder();
        long writeTicks;
        lock (_writeLock)
        {
            var latest = buffers.Latest;
            foreach (var number in order)
            {
                ref readonly var candidate = ref series[number];
                var key = (candidate.Id, candidate.Type);
                if (!_latestPositions.TryGetValue(key, out var stored))
                {
                    var current = _db.Get(buffers.LatestKey(number), _latest, _readOptions);
                    stored = current is null ? Instant.Min : LatestPosition(current);
                    if (current is not null)
                    {
                        RememberLatest(key, stored);
                    }
                }
                // Replaced only by a newer record, or at the same instant by a greater discriminator
                // (equal: the same record again).
                if (!candidate.Position.IsAfterOrAt(stored))
                {
                    continue;
                }
                latest.Add(number);
                ref readonly var entry = ref entries[candidate.Newest];
                // ts_latest value = time | data, the data copied from the arena (not encoded again).
                var value = buffers.LatestValue(SeriesKeys.TimeBytes + entry.ValueLength);
                SeriesKeys.WriteTime(value, candidate.Position.Ticks);
                arena.AsSpan(entry.Value, entry.ValueLength).CopyTo(value[SeriesKeys.TimeBytes..]);
                batch.Put(buffers.LatestKey(number), value, _latest);
            }
            // The forwarding feed entries join the same batch: stored and queued for forwarding, or neither.
            var feedLast = feed is { Count: > 0 } ? RocksFeed.AddToBatch(_store, _state, batch, feed) : null;
            var writing = System.Diagnostics.Stopwatch.GetTimestamp();
            _db.Write(batch, _store.WriteOptions);
            writeTicks = System.Diagnostics.Stopwatch.GetTimestamp() - writing;
            // Only after the commit: a failed write leaves the cache describing what is stored.
            foreach (var number in latest)
            {
                ref readonly var written = ref series[number];
                RememberLatest((written.Id, written.Type), written.Position);
            }
            RocksFeed.Committed(_state, feedLast);
        }
        return writeTicks;
    }

    /// <summary>A feed-only commit (no records): the feed entries appended on their own.</summary>
    private void CommitFeedOnly(IReadOnlyList<FeedGroup>? feed)
    {
        if (feed is { Count: > 0 })
        {
            RocksFeed.Append(_store, feed);
        }
    }

    /// <summary>Two sets of buffers are kept: one for the commit in flight, one for the batch prepared meanwhile.</summary>
    private SaveBuffers TakeBuffers() =>
        Interlocked.Exchange(ref _spareBuffers, null) ?? Interlocked.Exchange(ref _secondSpareBuffers, null) ?? new SaveBuffers();

    private void ReturnBuffers(SaveBuffers buffers)
    {
        buffers.Reset();
        if (Interlocked.CompareExchange(ref _spareBuffers, buffers, null) is not null
            && Interlocked.CompareExchange(ref _secondSpareBuffers, buffers, null) is not null)
        {
            buffers.Dispose();
        }
    }

    /// <inheritdoc />
    public StoreBackgroundWork ReadBackgroundWork()
    {
        static long Read(RocksDb db, string property, ColumnFamilyHandle? family = null)
        {
            var text = family is null ? db.GetProperty(property) : db.GetProperty(property, family);
            return long.TryParse(text, out var value) ? value : -1;
        }
        return new StoreBackgroundWork(
            (int)Read(_db, "rocksdb.num-running-flushes"),
            (int)Read(_db, "rocksdb.num-running-compactions"),
            Read(_db, "rocksdb.actual-delayed-write-rate"),
            Read(_db, "rocksdb.is-write-stopped") == 1,
            (int)Read(_db, "rocksdb.num-files-at-level0", _series));
    }

    /// <summary>A prepared save: its buffers stay taken until it is disposed.</summary>
    private sealed class PreparedSave(RocksTimeSeriesStore store, SaveBuffers? buffers, ArenaEntry[]? entries, IReadOnlyList<FeedGroup>? feed, long started) : IPreparedCommit
    {
        private readonly long _prepareTicks = System.Diagnostics.Stopwatch.GetTimestamp() - started;
        private long _writeTicks;
        private bool _attempted;
        private bool _disposed;
        private SaveBuffers? _buffers = buffers;

        public CommitTimings Timings => new(_prepareTicks, _writeTicks);

        public void Commit()
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_attempted)
            {
                throw new InvalidOperationException("A prepared commit is committed at most once.");
            }
            _attempted = true;
            if (_buffers is null)
            {
                store.CommitFeedOnly(feed);
                return;
            }
            _writeTicks = store.CommitPrepared(_buffers, entries!, feed);
        }

        public void Dispose()
        {
            _disposed = true;
            if (Interlocked.Exchange(ref _buffers, null) is { } taken)
            {
                store.ReturnBuffers(taken);
            }
        }
    }

    /// <summary>Records the stored <c>ts_latest</c> position of a series; called under the write lock.</summary>
    private void RememberLatest((string Id, string Type) series, Instant position)
    {
        if (_latestPositions.Count >= LatestCacheCapacity && !_latestPositions.ContainsKey(series))
        {
            // Bounded: past the capacity the cache starts over (misses only cost the read they replace).
            _latestPositions.Clear();
        }
        _latestPositions[series] = position;
    }

    /// <summary>
    /// The position of a <c>ts_latest</c> value (<c>time | data</c>): the discriminator is not stored, it is the
    /// hash of the data (read only when the cache misses).
    /// </summary>
    private static Instant LatestPosition(ReadOnlySpan<byte> value) =>
        new(SeriesKeys.DecodeTime(value), RecordIdentity.Discriminator(value[SeriesKeys.TimeBytes..]));

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
        var resume = ContinuationToken.Decode(query);

        var months = ReadMonths();
        var firstMonth = SeriesKeys.MonthOf(from);
        var lastMonth = SeriesKeys.MonthOf(to);
        months.RemoveAll(m => m < firstMonth || m > lastMonth);
        if (query.Descending)
        {
            months.Reverse();
        }

        var family = query.Type is null ? _series : _byType;
        // A typed query walks the key-only ts_type index and reads each record's data from ts with a second
        // iterator (see ReadTypedRecord), both through one snapshot so that a concurrent write or delete is
        // seen in both or neither.
        using var snapshot = query.Type is null ? null : _db.CreateSnapshot();
        var readOptions = snapshot is null ? _readOptions : new ReadOptions().SetSnapshot(snapshot);
        var seriesKey = query.Type is null ? [] : new byte[SeriesKeys.MaxKeyBytes];
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
            var seriesPrefixLength = query.Type is null ? 0 : SeriesKeys.WritePrefix(seriesKey, month, query.Id, null);
            var prefixLength = SeriesKeys.WritePrefix(lower, month, query.Id, query.Type);
            lower.AsSpan(0, prefixLength).CopyTo(upper);
            var lowerKey = lower.AsSpan(0, prefixLength + SeriesKeys.WriteTime(lower.AsSpan(prefixLength), from));
            var upperKey = upper.AsSpan(0, prefixLength + SeriesKeys.WriteTime(upper.AsSpan(prefixLength), to + 1));
            var resumeAt = Span<byte>.Empty;
            if (resume is { } position && month == resumeMonth)
            {
                // The exact key of the last record returned: prefix | time (| type | 0x00) | discriminator.
                lower.AsSpan(0, prefixLength).CopyTo(resumeKey);
                var length = prefixLength + SeriesKeys.WriteTime(resumeKey.AsSpan(prefixLength), position.Ticks);
                if (query.Type is null)
                {
                    length += Encoding.UTF8.GetBytes(position.Type, resumeKey.AsSpan(length));
                    resumeKey[length++] = 0;
                }
                length += SeriesKeys.WriteDiscriminator(resumeKey.AsSpan(length), position.Discriminator);
                resumeAt = resumeKey.AsSpan(0, length);
            }

            using var iterator = _db.NewIterator(family, readOptions);
            using var data = query.Type is null ? null : _db.NewIterator(_series, readOptions);
            var dataPositioned = false;
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
                    if (query.Type is null)
                    {
                        items.Add(ReadRecord(query, key, prefixLength, iterator.GetValueSpan()));
                    }
                    else
                    {
                        items.Add(ReadTypedRecord(query, key, seriesPrefixLength, prefixLength, seriesKey, data!, ref dataPositioned));
                    }
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
                    if (query.Type is null)
                    {
                        items.Add(ReadRecord(query, key, prefixLength, iterator.GetValueSpan()));
                    }
                    else
                    {
                        items.Add(ReadTypedRecord(query, key, seriesPrefixLength, prefixLength, seriesKey, data!, ref dataPositioned));
                    }
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
            // The key's discriminator is the hash of the data stored under it (saves and the format upgrade
            // both derive it so), hence recomputed here from the last record.
            continuation = ContinuationToken.Encode(query, new TimeSeriesPosition(last.Time.UtcTicks, last.Type, RecordIdentity.Discriminator(last.Data)));
        }
        return new TimeSeriesPage(items, continuation);
    }

    private static TimeSeriesRecord ReadRecord(TimeSeriesQuery query, ReadOnlySpan<byte> key, int prefixLength, ReadOnlySpan<byte> value)
    {
        var ticks = SeriesKeys.DecodeTime(key[prefixLength..]);
        var type = query.Type ?? Encoding.UTF8.GetString(SeriesKeys.TypeOfSeriesKey(key, prefixLength));
        return new TimeSeriesRecord(query.Id, type, new DateTimeOffset(ticks, TimeSpan.Zero), Encoding.UTF8.GetString(value));
    }

    /// <summary>
    /// The record a <c>ts_type</c> key points to, read from <c>ts</c> by <paramref name="data"/>, an iterator
    /// that follows the query's direction: the records of the other types of the series lie between two
    /// records of one type, so when the type is frequent the next record is a few steps away and stepping
    /// is much cheaper than a seek or point lookup (10 M-record benchmark, a 1 000-record page of one type
    /// among three: median 11.6 ms with one point lookup per record, 2.1 ms stepping); a rare type falls
    /// back to a seek after <see cref="StepsBeforeSeek"/> steps.
    /// </summary>
    private static TimeSeriesRecord ReadTypedRecord(TimeSeriesQuery query, ReadOnlySpan<byte> typeKey, int seriesPrefixLength, int prefixLength, byte[] seriesKey, Iterator data, ref bool positioned)
    {
        var target = seriesKey.AsSpan(0, SeriesKeys.SeriesKeyFromTypeKey(typeKey, seriesPrefixLength, prefixLength, seriesKey));
        if (positioned)
        {
            for (var step = 0; step < StepsBeforeSeek && data.Valid(); step++)
            {
                var order = data.GetKeySpan().SequenceCompareTo(target);
                if (order == 0)
                {
                    return ReadRecord(query, typeKey, prefixLength, data.GetValueSpan());
                }
                if (query.Descending ? order < 0 : order > 0)
                {
                    break;
                }
                if (query.Descending)
                {
                    data.Prev();
                }
                else
                {
                    data.Next();
                }
            }
        }
        data.Seek(target);
        positioned = true;
        // Both keys are written and deleted in the same batches and read through one snapshot.
        if (!data.Valid() || !data.GetKeySpan().SequenceEqual(target))
        {
            throw new StorageFormatException("A ts_type key has no ts record; the database is inconsistent.");
        }
        return ReadRecord(query, typeKey, prefixLength, data.GetValueSpan());
    }

    /// <summary>
    /// Deletes both index keys of every record of the range; with <paramref name="fixLatest"/> the latest
    /// values pointing into it are replaced (explicit deletion), else they are kept (retention). Returns the
    /// number of records deleted.
    /// </summary>
    private long DeleteRange(string id, string? type, long from, long to, bool fixLatest)
    {
        var deleted = 0L;
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
                    var seriesPrefixLength = SeriesKeys.MonthBytes + Encoding.UTF8.GetByteCount(id) + 1;
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
                        batch.Delete(key, family);
                        deleted++;
                        if (type is null)
                        {
                            batch.Delete(other.AsSpan(0, SeriesKeys.TypeKeyFromSeriesKey(key, prefixLength, other)), _byType);
                        }
                        else
                        {
                            batch.Delete(other.AsSpan(0, SeriesKeys.SeriesKeyFromTypeKey(key, seriesPrefixLength, prefixLength, other)), _series);
                        }
                        if (batch.Count() >= DeleteChunk)
                        {
                            _db.Write(batch, _store.WriteOptions);
                            batch.Dispose();
                            batch = new WriteBatch();
                        }
                    }
                }

                if (fixLatest)
                {
                    var types = type is not null ? [type] : ReadLatest(id).Select(r => r.Type).ToList();
                    foreach (var t in types)
                    {
                        FixLatestAfterDelete(batch, id, t, new Instant(from, long.MinValue), new Instant(to, long.MaxValue));
                    }
                }
                _db.Write(batch, _store.WriteOptions);
            }
            finally
            {
                batch.Dispose();
            }
        }
        return deleted;
    }

    /// <summary>
    /// When the latest value of <c>(id, type)</c> lies in the deleted range <c>[from, to]</c> (positions: time,
    /// then discriminator), replaces it with the greatest record before <paramref name="from"/> (the latest
    /// value is the greatest record, so nothing after <paramref name="to"/> exists), or deletes it. Called
    /// under the write lock.
    /// </summary>
    private void FixLatestAfterDelete(WriteBatch batch, string id, string type, Instant from, Instant to)
    {
        // The cache entry goes whatever happens below; the next save reads ts_latest again.
        _latestPositions.Remove((id, type));
        var key = new byte[SeriesKeys.MaxKeyBytes];
        var length = SeriesKeys.WriteLatestKey(key, id, type);
        var latestKey = key.AsSpan(0, length);
        var current = _db.Get(latestKey, _latest, _readOptions);
        if (current is null)
        {
            return;
        }
        var latest = LatestPosition(current);
        if (!latest.IsAfterOrAt(from) || !to.IsAfterOrAt(latest))
        {
            return;
        }
        if (FindGreatestBefore(id, type, from) is { } previous)
        {
            batch.Put(latestKey, previous, _latest);
        }
        else
        {
            batch.Delete(latestKey, _latest);
        }
    }

    /// <summary>The <c>ts_latest</c> value (time | data) of the greatest record of <c>(id, type)</c> strictly before <paramref name="before"/>.</summary>
    private byte[]? FindGreatestBefore(string id, string type, Instant before)
    {
        var months = ReadMonths();
        var prefix = new byte[SeriesKeys.MaxKeyBytes];
        var seek = new byte[SeriesKeys.MaxKeyBytes];
        var seriesKey = new byte[SeriesKeys.MaxKeyBytes];
        using var iterator = _db.NewIterator(_byType, _readOptions);
        for (var i = months.Count - 1; i >= 0; i--)
        {
            if (months[i] > SeriesKeys.MonthOf(before.Ticks))
            {
                continue;
            }
            var prefixLength = SeriesKeys.WritePrefix(prefix, months[i], id, type);
            prefix.AsSpan(0, prefixLength).CopyTo(seek);
            var seekLength = prefixLength + SeriesKeys.WriteTime(seek.AsSpan(prefixLength), before.Ticks);
            seekLength += SeriesKeys.WriteDiscriminator(seek.AsSpan(seekLength), before.Discriminator);
            var seekKey = seek.AsSpan(0, seekLength);
            iterator.SeekForPrev(seekKey);
            if (iterator.Valid() && iterator.GetKeySpan().SequenceEqual(seekKey))
            {
                iterator.Prev();
            }
            if (iterator.Valid() && iterator.GetKeySpan().StartsWith(prefix.AsSpan(0, prefixLength)))
            {
                var key = iterator.GetKeySpan();
                // ts_type holds keys only: the data is in ts (same batch, so present under the write lock).
                var seriesPrefixLength = SeriesKeys.WritePrefix(seriesKey, months[i], id, null);
                var seriesLength = SeriesKeys.SeriesKeyFromTypeKey(key, seriesPrefixLength, prefixLength, seriesKey);
                var value = _db.Get(seriesKey.AsSpan(0, seriesLength), _series, _readOptions);
                if (value is null)
                {
                    throw new StorageFormatException("A ts_type key has no ts record; the database is inconsistent.");
                }
                var result = new byte[SeriesKeys.TimeBytes + value.Length];
                key.Slice(prefixLength, SeriesKeys.TimeBytes).CopyTo(result);
                value.CopyTo(result.AsSpan(SeriesKeys.TimeBytes));
                return result;
            }
        }
        return null;
    }
}
