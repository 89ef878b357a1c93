using M2M.Storage.Contracts;

namespace M2M.Storage.Rocks.Tests;

// The entity contracts on RocksDB: a fresh database per test.

/// <summary>Builds the RocksDB store set for the Rocks subclasses of the entity contracts.</summary>
public sealed class RocksStores(TimeProvider time) : IDisposable
{
    public RocksBackend Backend { get; } = new(time);

    public StoreSet Stores => new(Backend.Registry, Backend.Files, Backend.Firmware, Backend.Domains, Backend.Users, Backend.Devices);

    public void Dispose() => Backend.Dispose();
}

public sealed class RocksDomainStoreTests : DomainStoreContract
{
    private RocksStores? _rocks;

    protected override StoreSet CreateStores(TimeProvider time) => (_rocks = new RocksStores(time)).Stores;

    public override void Dispose() => _rocks?.Dispose();
}

public sealed class RocksUserStoreTests : UserStoreContract
{
    private RocksStores? _rocks;

    protected override StoreSet CreateStores(TimeProvider time) => (_rocks = new RocksStores(time)).Stores;

    public override void Dispose() => _rocks?.Dispose();
}

public sealed class RocksDeviceStoreTests : DeviceStoreContract
{
    private RocksStores? _rocks;

    protected override StoreSet CreateStores(TimeProvider time) => (_rocks = new RocksStores(time)).Stores;

    public override void Dispose() => _rocks?.Dispose();
}

public sealed class RocksFirmwareStoreTests : FirmwareStoreContract
{
    private RocksStores? _rocks;

    protected override StoreSet CreateStores(TimeProvider time) => (_rocks = new RocksStores(time)).Stores;

    public override void Dispose() => _rocks?.Dispose();
}

public sealed class RocksDeviceAuthStoreTests : DeviceAuthStoreContract
{
    private RocksStores? _rocks;

    protected override StoreSet CreateStores(TimeProvider time) => (_rocks = new RocksStores(time)).Stores;

    public override void Dispose() => _rocks?.Dispose();
}

public sealed class RocksFirmwareAccessTests : FirmwareAccessContract
{
    private RocksStores? _rocks;

    protected override StoreSet CreateStores(TimeProvider time) => (_rocks = new RocksStores(time)).Stores;

    public override void Dispose() => _rocks?.Dispose();
}

public sealed class RocksCredentialStoreTests : CredentialStoreContract
{
    private RocksStores? _rocks;

    protected override StoreSet CreateStores(TimeProvider time) => (_rocks = new RocksStores(time)).Stores;

    public override void Dispose() => _rocks?.Dispose();
}
