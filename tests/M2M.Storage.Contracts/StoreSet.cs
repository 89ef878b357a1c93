using M2M.Storage.Entities;
using M2M.Storage.Files;
using M2M.Storage.Registry;

namespace M2M.Storage.Contracts;

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
