using M2M.Storage.Contracts;
using M2M.Storage.Entities;
using M2M.Storage.Files;
using M2M.Storage.Postgres.Files;
using M2M.Storage.Postgres.Registry;
using M2M.Testing;
using Npgsql;

namespace M2M.Storage.Postgres.Tests;

/// <summary>
/// A database of its own per test class (created on first use, dropped when the class is done); every
/// store a test opens lives in a fresh schema of that database, so each test starts empty.
/// </summary>
public sealed class PostgresFixture : IDisposable
{
    private readonly Lazy<(PostgresDatabase Database, NpgsqlDataSource DataSource)> _database = new(() =>
    {
        var database = PostgresDatabase.Create();
        return (database, PostgresConnectionDefaults.CreateDataSource(database.ConnectionString));
    });
    private readonly List<IAsyncDisposable> _owned = [];
    private int _schemas;

    /// <summary>The connection string of the class's database (skips the test without PostgreSQL).</summary>
    public string ConnectionString => _database.Value.Database.ConnectionString;

    public NpgsqlDataSource DataSource => _database.Value.DataSource;

    /// <summary>A new schema name, unique in the database.</summary>
    public string NewSchemaName() => $"s{Interlocked.Increment(ref _schemas)}";

    /// <summary>A store on a fresh, migrated schema.</summary>
    public PostgresStore NewStore(TimeProvider? time = null, PostgresBatchMethod method = PostgresBatchMethod.Unnest) =>
        PostgresStore.Open(DataSource, new PostgresStorageOptions { Schema = NewSchemaName(), BatchMethod = method }, time);

    /// <summary>Disposed with the fixture (e.g. stores that keep connections).</summary>
    public T Own<T>(T resource) where T : IAsyncDisposable
    {
        lock (_owned)
        {
            _owned.Add(resource);
        }
        return resource;
    }

    /// <summary>The registry and every store over it, on a fresh schema.</summary>
    public StoreSet NewStoreSet(TimeProvider time)
    {
        var registry = new PostgresRegistry(NewStore(time), time);
        var files = new PostgresFileStore(registry);
        var domains = new DomainStore(registry, time);
        return new StoreSet(registry, files, new FirmwareStore(registry, files, time), domains, new UserStore(registry, domains, time), new DeviceStore(registry, domains, time));
    }

    public void Dispose()
    {
        if (!_database.IsValueCreated)
        {
            return;
        }
        foreach (var resource in _owned)
        {
            resource.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
        _database.Value.DataSource.Dispose();
        _database.Value.Database.Dispose();
    }
}
