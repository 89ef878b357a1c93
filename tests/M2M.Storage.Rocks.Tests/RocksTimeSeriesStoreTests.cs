using M2M.Storage.Contracts;
using M2M.Storage.TimeSeries;
using M2M.Testing;

namespace M2M.Storage.Rocks.Tests;

/// <summary>The time-series contract on a real RocksDB database in a temporary directory.</summary>
public sealed class RocksTimeSeriesStoreTests : TimeSeriesStoreContract, IDisposable
{
    private readonly TempDirectory _directory = new("m2m-ts");
    private RocksStore? _store;

    protected override ValueTask<ITimeSeriesStore> CreateStoreAsync()
    {
        _store = RocksStore.Open(_directory.Path, new RocksStoreOptions { Durability = Durability.ProcessCrash, BlockCacheBytes = 8 << 20, WriteBufferBytes = 4 << 20 });
        return ValueTask.FromResult<ITimeSeriesStore>(new RocksTimeSeriesStore(_store));
    }

    public void Dispose()
    {
        _store?.Dispose();
        _directory.Dispose();
    }
}
