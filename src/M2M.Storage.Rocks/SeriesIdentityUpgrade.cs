using System.Diagnostics;
using M2M.Storage.TimeSeries;
using Microsoft.Extensions.Logging;
using RocksDbSharp;

namespace M2M.Storage.Rocks;

/// <summary>
/// Storage format 2 → 3: time-series keys gain the record's content discriminator
/// (<see cref="RecordIdentity"/>), so that records of one (id, type, time) with different data no longer
/// share a key.
/// <code>
/// ts       month | id | 00 | time | type              →  month | id | 00 | time | type | 00 | disc
/// ts_type  month | id | 00 | type | 00 | time         →  month | id | 00 | type | 00 | time | disc
/// </code>
/// <c>ts_latest</c> keeps its layout (<c>time | data</c>): the discriminator of a latest value is the hash of
/// its data, and format 2 held at most one record per (id, type, time), so every entry is already the
/// greatest record of its (id, type) under the new rule.
/// </summary>
/// <remarks>
/// <para>Crash-safe and resumable: each write batch deletes old keys and puts their new keys in both families,
/// together with a progress key (the last old <c>ts</c> key converted) in <c>meta</c>, atomically. An old key
/// and a new key tell apart by their shape (a format-3 <c>ts</c> key has a 0x00 after the type; a format-3
/// <c>ts_type</c> key ends with 16 bytes after the type instead of 8), so a step interrupted anywhere and run
/// again skips what it converted and goes on from the progress key.</para>
/// <para>Bounded memory: batches of at most <see cref="RocksStoreOptions.UpgradeBatchRecords"/> records and
/// <see cref="MaxBatchBytes"/> bytes, and a new iterator per batch (a long-lived iterator would pin every
/// memtable written meanwhile). A last pass over <c>ts_type</c> removes old-format keys left without a
/// <c>ts</c> record (none in a consistent database; counted and logged).</para>
/// </remarks>
internal sealed class SeriesIdentityUpgrade
{
    /// <summary>Event of each committed batch (debug level): tests stop the process on it.</summary>
    public static readonly EventId BatchEvent = new(3001, "StorageUpgradeBatch");

    private const long MaxBatchBytes = 16L << 20;
    private static readonly byte[] ProgressKey = "upgrade/3/ts"u8.ToArray();

    private readonly RocksDb _db;
    private readonly ColumnFamilyHandle _series;
    private readonly ColumnFamilyHandle _byType;
    private readonly ColumnFamilyHandle _meta;
    private readonly int _batchRecords;
    private readonly ILogger? _logger;
    private readonly WriteOptions _unsynced = new WriteOptions().SetSync(false);
    // Full scans: keep them out of the block cache.
    private readonly ReadOptions _scan = new ReadOptions().SetFillCache(false);
    private readonly byte[] _typeKey = new byte[SeriesKeys.MaxKeyBytes];

    public SeriesIdentityUpgrade(RocksStore store, ILogger? logger)
    {
        _db = store.Db;
        _series = store.Family(RocksStore.Families.Series);
        _byType = store.Family(RocksStore.Families.SeriesByType);
        _meta = store.Family(RocksStore.Families.Meta);
        _batchRecords = Math.Max(1, store.Options.UpgradeBatchRecords);
        _logger = logger;
    }

    public void Run()
    {
        var clock = Stopwatch.StartNew();
        var resumeAt = _db.Get(ProgressKey, _meta);
        _logger?.LogInformation(
            resumeAt is null
                ? "Storage format 3 upgrade: adding the content discriminator to every time-series key"
                : "Storage format 3 upgrade: resuming an interrupted upgrade");
        var (converted, skipped) = ConvertSeries(resumeAt);
        var orphans = RemoveOldTypeKeys();
        // Done: the progress key goes (the caller then stores the new version, synced).
        _db.Remove(ProgressKey, _meta, _unsynced);
        _logger?.LogInformation(
            "Storage format 3 upgrade: {Converted} records rewritten, {Skipped} already in the new layout, {Orphans} orphan ts_type keys removed, in {Seconds:F1} s",
            converted, skipped, orphans, clock.Elapsed.TotalSeconds);
    }

    /// <summary>Rewrites every old <c>ts</c> key and its <c>ts_type</c> key; returns (converted, already new).</summary>
    private (long Converted, long Skipped) ConvertSeries(byte[]? resumeAt)
    {
        long converted = 0, skipped = 0;
        var newKey = new byte[SeriesKeys.MaxKeyBytes];
        var batch = new WriteBatch();
        try
        {
            while (true)
            {
                byte[]? last = null;
                long bytes = 0;
                using (var iterator = _db.NewIterator(_series, _scan))
                {
                    if (resumeAt is null)
                    {
                        iterator.SeekToFirst();
                    }
                    else
                    {
                        iterator.Seek(resumeAt);
                        // The progress key itself was converted in the same batch: its new form comes first.
                        if (iterator.Valid() && IsNewFormOf(iterator.GetKeySpan(), resumeAt))
                        {
                            iterator.Next();
                        }
                    }
                    for (; iterator.Valid(); iterator.Next())
                    {
                        var key = iterator.GetKeySpan();
                        var prefixLength = SeriesPrefixLength(key);
                        var tail = key[(prefixLength + SeriesKeys.TimeBytes)..];
                        if (tail.Contains((byte)0))
                        {
                            skipped++;
                            continue;
                        }
                        var value = iterator.GetValueSpan();
                        var discriminator = RecordIdentity.Discriminator(value);
                        // ts: old key out, new key in (same value).
                        key.CopyTo(newKey);
                        newKey[key.Length] = 0;
                        var newLength = key.Length + 1 + SeriesKeys.WriteDiscriminator(newKey.AsSpan(key.Length + 1), discriminator);
                        batch.Delete(key, _series);
                        batch.Put(newKey.AsSpan(0, newLength), value, _series);
                        // ts_type: the old key is the new one without its discriminator.
                        var typeLength = SeriesKeys.TypeKeyFromSeriesKey(newKey.AsSpan(0, newLength), prefixLength, _typeKey);
                        batch.Delete(_typeKey.AsSpan(0, typeLength - SeriesKeys.DiscriminatorBytes), _byType);
                        batch.Put(_typeKey.AsSpan(0, typeLength), ReadOnlySpan<byte>.Empty, _byType);
                        bytes += 2 * (key.Length + newLength) + value.Length;
                        converted++;
                        if (converted % _batchRecords == 0 || bytes >= MaxBatchBytes)
                        {
                            last = key.ToArray();
                            break;
                        }
                    }
                }
                if (last is null)
                {
                    _db.Write(batch, _unsynced);
                    return (converted, skipped);
                }
                batch.Put(ProgressKey, last, _meta);
                _db.Write(batch, _unsynced);
                batch.Clear();
                _logger?.LogDebug(BatchEvent, "Storage format 3 upgrade: {Count} records rewritten", converted);
                if (converted % 1_000_000 < _batchRecords)
                {
                    _logger?.LogInformation("Storage format 3 upgrade: {Count} records rewritten", converted);
                }
                // A new iterator from the last old key (now deleted: it lands on that key's new form, skipped).
                resumeAt = last;
            }
        }
        finally
        {
            batch.Dispose();
        }
    }

    /// <summary>Removes <c>ts_type</c> keys still in the old layout (8 bytes after the type); returns how many.</summary>
    private long RemoveOldTypeKeys()
    {
        long removed = 0;
        byte[]? resumeAt = null;
        using var batch = new WriteBatch();
        while (true)
        {
            byte[]? last = null;
            using (var iterator = _db.NewIterator(_byType, _scan))
            {
                if (resumeAt is null)
                {
                    iterator.SeekToFirst();
                }
                else
                {
                    iterator.Seek(resumeAt);
                }
                for (; iterator.Valid(); iterator.Next())
                {
                    var key = iterator.GetKeySpan();
                    var prefixLength = SeriesPrefixLength(key);
                    var typeEnd = key[prefixLength..].IndexOf((byte)0);
                    if (typeEnd < 0)
                    {
                        throw Corrupt("ts_type");
                    }
                    var suffix = key.Length - (prefixLength + typeEnd + 1);
                    if (suffix == SeriesKeys.TimeBytes + SeriesKeys.DiscriminatorBytes)
                    {
                        continue;
                    }
                    if (suffix != SeriesKeys.TimeBytes)
                    {
                        throw Corrupt("ts_type");
                    }
                    batch.Delete(key, _byType);
                    removed++;
                    if (batch.Count() >= _batchRecords)
                    {
                        last = key.ToArray();
                        break;
                    }
                }
            }
            _db.Write(batch, _unsynced);
            batch.Clear();
            if (last is null)
            {
                break;
            }
            resumeAt = last;
        }
        if (removed > 0)
        {
            _logger?.LogWarning("Storage format 3 upgrade: {Count} ts_type keys had no ts record and were removed", removed);
        }
        return removed;
    }

    private static bool IsNewFormOf(ReadOnlySpan<byte> key, ReadOnlySpan<byte> oldKey) =>
        key.Length == oldKey.Length + SeriesKeys.SeriesSuffixBytes && key.StartsWith(oldKey) && key[oldKey.Length] == 0;

    /// <summary>The length of <c>month | id | 0x00</c> of a time-series key.</summary>
    private static int SeriesPrefixLength(ReadOnlySpan<byte> key)
    {
        var idEnd = key.Length > SeriesKeys.MonthBytes ? key[SeriesKeys.MonthBytes..].IndexOf((byte)0) : -1;
        if (idEnd < 1 || key.Length < SeriesKeys.MonthBytes + idEnd + 1 + SeriesKeys.TimeBytes)
        {
            throw Corrupt("ts");
        }
        return SeriesKeys.MonthBytes + idEnd + 1;
    }

    private static StorageFormatException Corrupt(string family) =>
        new($"A {family} key does not have the time-series key layout; the database is inconsistent.");
}
