using M2M.Storage.Entities;
using M2M.Storage.Files;
using M2M.Storage.Registry;

namespace M2M.Registry.Tests;

/// <summary>The stores of one backend, as the contract tests see them.</summary>
public sealed record StoreSet(IRegistry Registry, IFileStore Files, IFirmwareStore Firmware, IDomainStore Domains, IUserStore Users, IDeviceStore Devices);

/// <summary>Base of the entity contracts: a fresh backend per test, with a manual clock.</summary>
public abstract class EntityContract : IDisposable
{
    private readonly Lazy<StoreSet> _stores;

    protected EntityContract() => _stores = new(() => CreateStores(Time));

    protected ManualTimeProvider Time { get; } = new();

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    protected StoreSet Stores => _stores.Value;

    /// <summary>Stores over a fresh, empty backend using <paramref name="time"/> as their clock.</summary>
    protected abstract StoreSet CreateStores(TimeProvider time);

    public abstract void Dispose();
}

/// <summary>Builds the RocksDB store set for the Rocks subclasses of the entity contracts.</summary>
public sealed class RocksStores(TimeProvider time) : IDisposable
{
    public RocksBackend Backend { get; } = new(time);

    public StoreSet Stores => new(Backend.Registry, Backend.Files, Backend.Firmware, Backend.Domains, Backend.Users, Backend.Devices);

    public void Dispose() => Backend.Dispose();
}
