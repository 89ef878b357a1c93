using M2M.Storage.Contracts;
using M2M.Storage.Files;
using M2M.Storage.Postgres.Files;
using M2M.Storage.Postgres.Registry;
using M2M.Storage.Postgres.TimeSeries;
using M2M.Storage.Registry;
using M2M.Storage.TimeSeries;

namespace M2M.Storage.Postgres.Tests;

// Every backend-neutral contract suite on PostgreSQL: a database per class, a fresh schema per test.

public sealed class PostgresTimeSeriesStoreTests(PostgresFixture fixture) : TimeSeriesStoreContract, IClassFixture<PostgresFixture>
{
    protected override ValueTask<ITimeSeriesStore> CreateStoreAsync() =>
        ValueTask.FromResult<ITimeSeriesStore>(new PostgresTimeSeriesStore(fixture.NewStore()));
}

/// <summary>The same contract with batches written by binary COPY into a staging table.</summary>
public sealed class PostgresCopyBatchTimeSeriesStoreTests(PostgresFixture fixture) : TimeSeriesStoreContract, IClassFixture<PostgresFixture>
{
    protected override ValueTask<ITimeSeriesStore> CreateStoreAsync() =>
        ValueTask.FromResult<ITimeSeriesStore>(fixture.Own(new PostgresTimeSeriesStore(fixture.NewStore(method: PostgresBatchMethod.Copy))));
}

public sealed class PostgresRegistryTests(PostgresFixture fixture) : RegistryContract, IClassFixture<PostgresFixture>
{
    protected override IRegistry CreateRegistry(TimeProvider time) => new PostgresRegistry(fixture.NewStore(time), time);

    public override void Dispose()
    {
    }
}

public sealed class PostgresFileStoreTests : FileStoreContract, IClassFixture<PostgresFixture>
{
    private readonly Lazy<PostgresRegistry> _registry;

    public PostgresFileStoreTests(PostgresFixture fixture) => _registry = new(() => new PostgresRegistry(fixture.NewStore()));

    protected override IFileStore Files => new PostgresFileStore(_registry.Value);

    protected override IRegistry Registry => _registry.Value;

    public override void Dispose()
    {
    }
}

public sealed class PostgresDomainStoreTests(PostgresFixture fixture) : DomainStoreContract, IClassFixture<PostgresFixture>
{
    protected override StoreSet CreateStores(TimeProvider time) => fixture.NewStoreSet(time);

    public override void Dispose()
    {
    }
}

public sealed class PostgresUserStoreTests(PostgresFixture fixture) : UserStoreContract, IClassFixture<PostgresFixture>
{
    protected override StoreSet CreateStores(TimeProvider time) => fixture.NewStoreSet(time);

    public override void Dispose()
    {
    }
}

public sealed class PostgresDeviceStoreTests(PostgresFixture fixture) : DeviceStoreContract, IClassFixture<PostgresFixture>
{
    protected override StoreSet CreateStores(TimeProvider time) => fixture.NewStoreSet(time);

    public override void Dispose()
    {
    }
}

public sealed class PostgresFirmwareStoreTests(PostgresFixture fixture) : FirmwareStoreContract, IClassFixture<PostgresFixture>
{
    protected override StoreSet CreateStores(TimeProvider time) => fixture.NewStoreSet(time);

    public override void Dispose()
    {
    }
}

public sealed class PostgresCredentialStoreTests(PostgresFixture fixture) : CredentialStoreContract, IClassFixture<PostgresFixture>
{
    protected override StoreSet CreateStores(TimeProvider time) => fixture.NewStoreSet(time);

    public override void Dispose()
    {
    }
}

/// <summary>The storage maintenance (retention, cleanup, device deletion) on PostgreSQL: registry and series in one schema.</summary>
public sealed class PostgresLifecycleTests(PostgresFixture fixture) : LifecycleContract, IClassFixture<PostgresFixture>
{
    protected override (IRegistry Registry, ITimeSeriesStore Series) CreateBackend(TimeProvider time)
    {
        var store = fixture.NewStore(time);
        return (new PostgresRegistry(store, time), new PostgresTimeSeriesStore(store));
    }

    public override void Dispose() => Metrics.Dispose();
}
