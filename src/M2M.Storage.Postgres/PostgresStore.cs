using System.Text;
using System.Text.RegularExpressions;
using M2M.Storage.Postgres.Schema;
using M2M.Storage.Postgres.TimeSeries;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace M2M.Storage.Postgres;

/// <summary>
/// The platform's schema in a PostgreSQL database: the data source every store of the backend uses,
/// the qualified table names, the time-series partitions, and the schema version, checked (and
/// upgraded) by <see cref="Open"/>. Thread-safe; one per process and schema. The layout is described
/// in <c>docs/storage-layout.md</c> (PostgreSQL).
/// </summary>
public sealed partial class PostgresStore
{
    private PostgresStore(NpgsqlDataSource dataSource, PostgresStorageOptions options, TimeProvider time, ILogger logger)
    {
        DataSource = dataSource;
        Options = options;
        Schema = options.Schema;
        Time = time;
        Logger = logger;
        var s = QuoteIdentifier(options.Schema);
        QualifiedSchema = s;
        Series = $"{s}.ts";
        SeriesMonths = $"{s}.ts_month";
        SeriesLatest = $"{s}.ts_latest";
        Nodes = $"{s}.registry_node";
        Values = $"{s}.registry_value";
        Blocks = $"{s}.registry_block";
        Partitions = new MonthPartitions(this);
    }

    /// <summary>The data source (connection pool) of the database.</summary>
    public NpgsqlDataSource DataSource { get; }

    public PostgresStorageOptions Options { get; }

    /// <summary>The schema's name, unquoted.</summary>
    public string Schema { get; }

    /// <summary>The clock of time-to-live values and deletion dates.</summary>
    public TimeProvider Time { get; }

    internal ILogger Logger { get; }

    internal string QualifiedSchema { get; }

    /// <summary><c>ts</c>: time-series records, partitioned by month.</summary>
    internal string Series { get; }

    /// <summary><c>ts_month</c>: the months that received records.</summary>
    internal string SeriesMonths { get; }

    /// <summary><c>ts_latest</c>: the latest record of each (series, type).</summary>
    internal string SeriesLatest { get; }

    /// <summary><c>registry_node</c>: status of each node.</summary>
    internal string Nodes { get; }

    /// <summary><c>registry_value</c>: one row per value cell.</summary>
    internal string Values { get; }

    /// <summary><c>registry_block</c>: file blocks.</summary>
    internal string Blocks { get; }

    internal MonthPartitions Partitions { get; }

    /// <summary>
    /// Checks the schema and brings it to <see cref="PostgresSchema.CurrentVersion"/> (creating it in an
    /// empty database), under an advisory lock so that two processes starting at once do not both
    /// migrate; then creates the time-series partitions of this month and the next
    /// <see cref="PostgresStorageOptions.MonthsAhead"/>.
    /// </summary>
    /// <exception cref="PostgresSchemaException">The schema is newer than this build.</exception>
    public static PostgresStore Open(NpgsqlDataSource dataSource, PostgresStorageOptions? options = null, TimeProvider? time = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        options ??= new PostgresStorageOptions();
        ValidateSchemaName(options.Schema);
        ArgumentOutOfRangeException.ThrowIfNegative(options.MonthsAhead, nameof(options.MonthsAhead));
        var store = new PostgresStore(dataSource, options, time ?? TimeProvider.System, logger ?? NullLogger.Instance);
        PostgresSchema.Migrate(store, PostgresSchema.CurrentVersion);
        store.Partitions.EnsureAheadAsync(CancellationToken.None).AsTask().GetAwaiter().GetResult();
        return store;
    }

    /// <summary><see cref="Open"/> without the migration: the schema must already be current (tests of the migrator).</summary>
    internal static PostgresStore Attach(NpgsqlDataSource dataSource, PostgresStorageOptions options, TimeProvider? time = null) =>
        new(dataSource, options, time ?? TimeProvider.System, NullLogger.Instance);

    /// <summary>A 64-bit advisory-lock key for <paramref name="purpose"/> in this schema (FNV-1a: the same in every process).</summary>
    internal long LockKey(string purpose)
    {
        var hash = 14695981039346656037UL;
        foreach (var b in Encoding.UTF8.GetBytes($"m2m:{Schema}:{purpose}"))
        {
            hash = (hash ^ b) * 1099511628211UL;
        }
        return unchecked((long)hash);
    }

    [GeneratedRegex("^[a-z_][a-z0-9_]{0,62}$", RegexOptions.CultureInvariant)]
    private static partial Regex SchemaName();

    private static void ValidateSchemaName(string? name)
    {
        if (name is null || !SchemaName().IsMatch(name))
        {
            throw new ArgumentException($"{PostgresStorageOptions.Section}:Schema must be a lowercase SQL identifier (a-z, 0-9, _; at most 63 characters); it was '{name}'.", nameof(name));
        }
    }

    private static string QuoteIdentifier(string name) => $"\"{name}\"";
}

/// <summary>The database's schema cannot be used by this build (e.g. it is newer).</summary>
public sealed class PostgresSchemaException(string message) : Exception(message);
