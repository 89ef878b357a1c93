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
    public const int FormatVersion = 1;

    /// <summary>Column family names.</summary>
    public static class Families
    {
        /// <summary>Database metadata: format version, counters.</summary>
        public const string Meta = "meta";
        /// <summary>Time-series records by (month, id, time, type).</summary>
        public const string Series = "ts";
        /// <summary>Time-series index by (month, id, type, time).</summary>
        public const string SeriesByType = "ts_type";
        /// <summary>Latest record per (id, type).</summary>
        public const string SeriesLatest = "ts_latest";
        /// <summary>Registry nodes: status, values, children.</summary>
        public const string Registry = "registry";
        /// <summary>File blocks (path, block number) → bytes.</summary>
        public const string Blocks = "blocks";

        public static readonly string[] All = [Meta, Series, SeriesByType, SeriesLatest, Registry, Blocks];
    }

    private static readonly byte[] FormatVersionKey = "format_version"u8.ToArray();

    private readonly Dictionary<string, ColumnFamilyHandle> _families;
    private readonly Cache _blockCache;

    private RocksStore(RocksDb db, Dictionary<string, ColumnFamilyHandle> families, Cache blockCache, RocksStoreOptions options)
    {
        Db = db;
        _families = families;
        _blockCache = blockCache;
        Options = options;
        WriteOptions = new WriteOptions().SetSync(options.Durability == Durability.Synced);
    }

    /// <summary>The database. Use the column family handles of <see cref="Family"/>.</summary>
    public RocksDb Db { get; }

    public RocksStoreOptions Options { get; }

    /// <summary>Write options of every commit: synced (survives power loss) or WAL only (survives a killed process).</summary>
    public WriteOptions WriteOptions { get; }

    public ColumnFamilyHandle Family(string name) => _families[name];

    /// <summary>Opens (creating when missing) the database in <paramref name="directory"/>.</summary>
    /// <exception cref="StorageFormatException">The database was written by a newer format.</exception>
    public static RocksStore Open(string directory, RocksStoreOptions? options = null, ILogger? logger = null)
    {
        options ??= new RocksStoreOptions();
        Directory.CreateDirectory(directory);

        var blockCache = Cache.CreateLru((ulong)options.BlockCacheBytes);
        var dbOptions = new DbOptions()
            .SetCreateIfMissing(true)
            .SetCreateMissingColumnFamilies(true)
            // Background flushes and compactions: the machines are small, two jobs are enough.
            .SetMaxBackgroundCompactions(2)
            .SetMaxBackgroundFlushes(1)
            .SetBytesPerSync(1 << 20);

        var families = new ColumnFamilies();
        foreach (var name in Families.All)
        {
            families.Add(name, CreateFamilyOptions(name, blockCache, options));
        }

        var db = RocksDb.Open(dbOptions, directory, families);
        var handles = Families.All.ToDictionary(n => n, db.GetColumnFamily);
        var store = new RocksStore(db, handles, blockCache, options);
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

    private static ColumnFamilyOptions CreateFamilyOptions(string name, Cache blockCache, RocksStoreOptions options)
    {
        var table = new BlockBasedTableOptions()
            .SetBlockCache(blockCache)
            // Bloom filters make point reads (registry values, latest values, idempotency checks) skip files.
            .SetFilterPolicy(BloomFilterPolicy.Create(10, false))
            .SetCacheIndexAndFilterBlocks(true)
            .SetBlockSize(16 * 1024);

        var cf = new ColumnFamilyOptions()
            .SetBlockBasedTableFactory(table)
            // LZ4 on the upper levels is cheap enough for the write path; JSON records compress well.
            .SetCompression(Compression.Lz4)
            .SetWriteBufferSize((ulong)options.WriteBufferBytes);
        return cf;
    }

    private void CheckFormat(ILogger? logger)
    {
        var meta = Family(Families.Meta);
        var stored = Db.Get(FormatVersionKey, meta);
        if (stored is null)
        {
            Db.Put(FormatVersionKey, BitConverter.GetBytes(FormatVersion), meta, WriteOptions);
            logger?.LogInformation("Created storage format {Version}", FormatVersion);
            return;
        }
        var version = BitConverter.ToInt32(stored);
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
            // No step exists yet: format 1 is the first. A step rewrites the keys it changes, then stores version + 1.
            Db.Put(FormatVersionKey, BitConverter.GetBytes(version + 1), Family(Families.Meta), WriteOptions);
            logger?.LogInformation("Upgraded storage format {From} to {To}", version, version + 1);
        }
    }

    public void Dispose()
    {
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
    public Durability Durability { get; set; } = Durability.Synced;

    /// <summary>Shared LRU block cache of all column families.</summary>
    public long BlockCacheBytes { get; set; } = 256L << 20;

    /// <summary>Memtable size per column family.</summary>
    public long WriteBufferBytes { get; set; } = 64L << 20;
}

/// <summary>The stored data cannot be read by this build.</summary>
public sealed class StorageFormatException(string message) : Exception(message);
