using System.Buffers.Binary;
using Microsoft.Extensions.Logging;
using RocksDbSharp;

namespace M2M.Storage.Rocks;

/// <summary>
/// The embedded RocksDB database of a node: one database directory, one column family per kind of
/// data (see <c>docs/storage-layout.md</c>), a stored format version checked on open.
/// Thread-safe; one instance per process and data directory.
/// </summary>
public sealed class RocksStore : IDisposable
{
    /// <summary>Format of the keys and values written by this code. Bump it with an upgrade step in <see cref="Upgrade"/>.</summary>
    public const int FormatVersion = 3;

    /// <summary>Column family names.</summary>
    public static class Families
    {
        /// <summary>Database metadata: format version, counters.</summary>
        public const string Meta = "meta";
        /// <summary>Time-series records by (month, id, time, type, discriminator).</summary>
        public const string Series = "ts";
        /// <summary>Time-series index by (month, id, type, time, discriminator); keys only (format ≥ 2), the data is in <see cref="Series"/>.</summary>
        public const string SeriesByType = "ts_type";
        /// <summary>Latest record per (id, type).</summary>
        public const string SeriesLatest = "ts_latest";
        /// <summary>Registry nodes: status, values, children.</summary>
        public const string Registry = "registry";
        /// <summary>File blocks (path, block number) → bytes.</summary>
        public const string Blocks = "blocks";
        /// <summary>Forwarding feed (outbox): entries per domain and sequence, sequences, endpoint cursors.</summary>
        public const string Feed = "feed";

        public static readonly string[] All = [Meta, Series, SeriesByType, SeriesLatest, Registry, Blocks, Feed];
    }

    private static readonly byte[] FormatVersionKey = "format_version"u8.ToArray();

    private readonly Dictionary<string, ColumnFamilyHandle> _families;
    private readonly Cache _blockCache;

    private int _disposed;

    private RocksStore(RocksDb db, string directory, Dictionary<string, ColumnFamilyHandle> families, Cache blockCache, RocksStoreOptions options)
    {
        Db = db;
        Directory = directory;
        _families = families;
        _blockCache = blockCache;
        Options = options;
        WriteOptions = new WriteOptions().SetSync(options.Durability == Durability.Synced);
    }

    /// <summary>The database. Use the column family handles of <see cref="Family"/>.</summary>
    public RocksDb Db { get; }

    public RocksStoreOptions Options { get; }

    /// <summary>The database directory.</summary>
    public string Directory { get; }

    /// <summary><c>true</c> once disposed (the database is closed).</summary>
    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>Write options of every commit: synced (survives power loss) or WAL only (survives a killed process).</summary>
    public WriteOptions WriteOptions { get; }

    public ColumnFamilyHandle Family(string name) => _families[name];

    /// <summary>Opens (creating when missing) the database in <paramref name="directory"/>.</summary>
    /// <exception cref="StorageFormatException">The database was written by a newer format.</exception>
    public static RocksStore Open(string directory, RocksStoreOptions? options = null, ILogger? logger = null)
    {
        options ??= new RocksStoreOptions();
        System.IO.Directory.CreateDirectory(directory);

        // One LRU cache for the data, index and filter blocks of every column family, so memory is
        // bounded by one figure whatever the mix of time series and registry reads.
        var blockCache = Cache.CreateLru((ulong)options.BlockCacheBytes);
        var dbOptions = new DbOptions()
            .SetCreateIfMissing(true)
            .SetCreateMissingColumnFamilies(true)
            // Background flushes and compactions: the machines are small, two jobs are enough.
            .SetMaxBackgroundCompactions(2)
            .SetMaxBackgroundFlushes(1)
            // Smooths the I/O of flushes and compactions (sync every MiB instead of one big sync per file).
            .SetBytesPerSync(1 << 20)
            // The WAL is shared by all column families: a rarely written family (meta, registry) would
            // pin old WAL files forever. Past this size, RocksDB flushes the family holding the oldest one.
            .SetMaxTotalWalSize((ulong)options.MaxTotalWalBytes)
            // Bounds the memtables of all families together (4 write buffers' worth).
            .SetDbWriteBufferSize((ulong)options.WriteBufferBytes * 4)
            .SetKeepLogFileNum(5)
            // Table files kept open (-1: all). Bounded so that the database stays inside the descriptors
            // the ingest node reserves for everything but device connections (M2M:Ingest:ReservedFileDescriptors).
            .SetMaxOpenFiles(options.MaxOpenFiles);
        // Measured for the time-series ingest and not set (BENCHMARKS.md, Storage, format 2): pipelined
        // writes (slower with the single committing thread), no compression on L0/L1 and 4 write buffers
        // with an L0 compaction trigger of 8 (no difference within the noise of the 2-core machine).

        var families = new ColumnFamilies();
        foreach (var name in Families.All)
        {
            families.Add(name, CreateFamilyOptions(name, blockCache, options));
        }

        var db = RocksDb.Open(dbOptions, directory, families);
        var handles = Families.All.ToDictionary(n => n, db.GetColumnFamily);
        var store = new RocksStore(db, directory, handles, blockCache, options);
        try
        {
            store.CheckFormat(logger);
        }
        catch
        {
            store.Dispose();
            throw;
        }
        return store;
    }

    /// <summary>
    /// Options of one column family. The time-series families (<c>ts</c>, <c>ts_type</c>) take the bulk
    /// of the writes and are read by range scans; the others are small and read by point lookups or
    /// short prefix scans.
    /// </summary>
    /// <remarks>
    /// No prefix extractor: every time-series key starts with a 4-byte month followed by a
    /// variable-length id, so no fixed prefix identifies a series, and range scans seek through the
    /// index anyway. Whole-key Bloom filters serve the point reads instead.
    /// </remarks>
    private static ColumnFamilyOptions CreateFamilyOptions(string name, Cache blockCache, RocksStoreOptions options)
    {
        var bulk = name is Families.Series or Families.SeriesByType;
        var table = new BlockBasedTableOptions()
            .SetBlockCache(blockCache)
            // 10 bits per key ≈ 1 % false positives: point reads (registry values, ts_latest for series
            // the write cache has not seen, GetAsync) skip the files that cannot hold the key. Full filters (format 5).
            .SetFilterPolicy(BloomFilterPolicy.Create(10, false))
            .SetFormatVersion(5)
            // Index and filter blocks live in (and are bounded by) the block cache; those of level 0
            // stay pinned because every read consults them.
            .SetCacheIndexAndFilterBlocks(true)
            .SetPinL0FilterAndIndexBlocksInCache(true)
            // Large blocks for scans of consecutive records (1 000 records ≈ 10 blocks); small ones for
            // point lookups so that a read does not decompress 16 KiB to use 100 bytes.
            .SetBlockSize(bulk ? 16 * 1024UL : 4 * 1024UL);

        var cf = new ColumnFamilyOptions()
            .SetBlockBasedTableFactory(table)
            // LZ4 is cheap enough for the write path (flushes and compactions) and JSON records with
            // repeated field names compress 2–4×; the key prefixes (month, id) are delta-encoded by the
            // block format itself.
            .SetCompression(Compression.Lz4)
            // Level sizes follow the data (fewer levels, less space amplification on small databases).
            .SetLevelCompactionDynamicLevelBytes(true)
            // Memtable: larger for the bulk families (fewer, larger L0 files under ingest), small for
            // the rest. Two memtables per family let writes go on while one is flushed.
            .SetWriteBufferSize(bulk ? (ulong)options.WriteBufferBytes : Math.Min((ulong)options.WriteBufferBytes, 16UL << 20))
            .SetMaxWriteBufferNumber(2);
        return cf;
    }

    private void CheckFormat(ILogger? logger)
    {
        var meta = Family(Families.Meta);
        var stored = Db.Get(FormatVersionKey, meta);
        if (stored is null)
        {
            Db.Put(FormatVersionKey, EncodeVersion(FormatVersion), meta, WriteOptions);
            logger?.LogInformation("Created storage format {Version}", FormatVersion);
            return;
        }
        if (stored.Length != sizeof(int))
        {
            throw new StorageFormatException($"The stored format version is corrupt ({stored.Length} bytes instead of 4).");
        }
        var version = BinaryPrimitives.ReadInt32LittleEndian(stored);
        if (version > FormatVersion)
        {
            throw new StorageFormatException(
                $"The database was written with storage format {version}; this build reads up to {FormatVersion}. Use a newer build.");
        }
        if (version < FormatVersion)
        {
            Upgrade(version, logger);
        }
    }

    /// <summary>Runs the upgrade steps from <paramref name="from"/> to <see cref="FormatVersion"/>, one version at a time.</summary>
    private void Upgrade(int from, ILogger? logger)
    {
        for (var version = from; version < FormatVersion; version++)
        {
            // A step rewrites the keys it changes, then stores version + 1. Each step must be idempotent:
            // an interrupted step runs again from its start on the next open.
            switch (version)
            {
                case 1:
                    EmptyTypeIndexValues(logger);
                    break;
                case 2:
                    new SeriesIdentityUpgrade(this, logger).Run();
                    break;
            }
            // Synced whatever the configured durability: it also makes the step's (unsynced) batches durable
            // before the new version is trusted.
            Db.Put(FormatVersionKey, EncodeVersion(version + 1), Family(Families.Meta), SyncedWrite);
            logger?.LogInformation("Upgraded storage format {From} to {To}", version, version + 1);
        }
    }

    private static readonly WriteOptions SyncedWrite = new WriteOptions().SetSync(true);

    /// <summary>
    /// Format 1 → 2: <c>ts_type</c> becomes a key-only index. Every value is replaced by an empty one (keys
    /// unchanged), in batches of 10 000; the old values disappear from the files as compaction rewrites them.
    /// </summary>
    private void EmptyTypeIndexValues(ILogger? logger)
    {
        const int Chunk = 10_000;
        var family = Family(Families.SeriesByType);
        var unsynced = new WriteOptions().SetSync(false);
        long rewritten = 0;
        // A full scan of the family: keep it out of the block cache.
        var scan = new ReadOptions().SetFillCache(false);
        using var iterator = Db.NewIterator(family, scan);
        var batch = new WriteBatch();
        try
        {
            for (iterator.SeekToFirst(); iterator.Valid(); iterator.Next())
            {
                if (iterator.GetValueSpan().IsEmpty)
                {
                    continue;
                }
                batch.Put(iterator.GetKeySpan(), ReadOnlySpan<byte>.Empty, family);
                if (batch.Count() >= Chunk)
                {
                    Db.Write(batch, unsynced);
                    batch.Clear();
                    rewritten += Chunk;
                    if (rewritten % 1_000_000 == 0)
                    {
                        logger?.LogInformation("Storage format 2 upgrade: {Count} ts_type entries rewritten", rewritten);
                    }
                }
            }
            rewritten += batch.Count();
            Db.Write(batch, unsynced);
        }
        finally
        {
            batch.Dispose();
        }
        logger?.LogInformation("Storage format 2 upgrade: {Count} ts_type entries rewritten as keys only", rewritten);
    }

    /// <summary>The stored format version (4 bytes, little-endian int32, key <c>format_version</c> of <c>meta</c>).</summary>
    public int StoredFormatVersion => BinaryPrimitives.ReadInt32LittleEndian(Db.Get(FormatVersionKey, Family(Families.Meta)));

    /// <summary>Writes the stored format version as-is (tests and upgrade tools).</summary>
    public void WriteFormatVersion(int version) => Db.Put(FormatVersionKey, EncodeVersion(version), Family(Families.Meta), WriteOptions);

    private static byte[] EncodeVersion(int version)
    {
        var bytes = new byte[sizeof(int)];
        BinaryPrimitives.WriteInt32LittleEndian(bytes, version);
        return bytes;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        Db.Dispose();
        GC.KeepAlive(_blockCache);
    }
}

/// <summary>How much a commit survives.</summary>
public enum Durability
{
    /// <summary>Every group commit is fsynced: survives power loss (default).</summary>
    Synced,

    /// <summary>Commits reach the OS through the WAL without fsync: survives a killed process, not power loss.</summary>
    ProcessCrash,
}

/// <summary>Tuning of the embedded database (configuration section <c>M2M:Storage:Rocks</c>).</summary>
public sealed class RocksStoreOptions
{
    public const string Section = "M2M:Storage:Rocks";

    /// <summary>Synced (default) or ProcessCrash; see <see cref="Durability"/>.</summary>
    public Durability Durability { get; set; } = Durability.Synced;

    /// <summary>Shared LRU block cache of all column families.</summary>
    public long BlockCacheBytes { get; set; } = 256L << 20;

    /// <summary>
    /// Memtable size of the time-series column families (others use at most 16 MiB); all memtables
    /// together are capped at 4×. After a write failed for lack of space, RocksDB resumes writing once
    /// this much disk is free again.
    /// </summary>
    public long WriteBufferBytes { get; set; } = 64L << 20;

    /// <summary>
    /// Largest total size of the write-ahead log files: past it RocksDB flushes the column family that
    /// holds the oldest one, so the WAL's share of the disk stays bounded (the rest is the data files,
    /// bounded by retention).
    /// </summary>
    public long MaxTotalWalBytes { get; set; } = 256L << 20;

    /// <summary>
    /// Table files RocksDB keeps open at once (<c>max_open_files</c>; -1 = all of them). Others are
    /// opened on demand through its table cache. Keep it well inside <c>M2M:Ingest:ReservedFileDescriptors</c>.
    /// </summary>
    public int MaxOpenFiles { get; set; } = 1024;

    /// <summary>Records per write batch of a storage format upgrade (batches are also capped at 16 MiB): bounds its memory.</summary>
    public int UpgradeBatchRecords { get; set; } = 10_000;
}

/// <summary>The stored data cannot be read by this build.</summary>
public sealed class StorageFormatException(string message) : Exception(message);
