using M2M.Api.Live;
using M2M.Storage.Contracts;
using M2M.Storage.Rocks;
using M2M.Storage.TimeSeries;
using M2M.Testing;

namespace M2M.Api.Tests;

/// <summary>
/// The wrapper the API puts around the backend's store (committed records reach live streams) honours the
/// whole time-series contract, retention included: every call it does not observe reaches RocksDB.
/// </summary>
public sealed class LiveRecordsStoreContractTests : TimeSeriesStoreContract, IDisposable
{
    private readonly TempDirectory _directory = new("m2m-live-ts");
    private readonly LiveRecordHub _hub = new();
    private RocksStore? _store;

    protected override ValueTask<ITimeSeriesStore> CreateStoreAsync()
    {
        _store = RocksStore.Open(_directory.Path, new RocksStoreOptions { Durability = Durability.ProcessCrash, BlockCacheBytes = 8 << 20, WriteBufferBytes = 4 << 20 });
        return ValueTask.FromResult<ITimeSeriesStore>(new LiveRecordsStore(new RocksTimeSeriesStore(_store), _hub));
    }

    public void Dispose()
    {
        _hub.Dispose();
        _store?.Dispose();
        _directory.Dispose();
    }
}
