using M2M.Storage.Contracts;
using M2M.Storage.Forwarding;
using M2M.Storage.TimeSeries;
using M2M.Testing;

namespace M2M.Storage.Rocks.Tests;

/// <summary>The forwarding feed contract on RocksDB (column family <c>feed</c>).</summary>
public sealed class RocksForwardingFeedTests : ForwardingFeedContract, IDisposable
{
    private readonly TempDirectory _directory = new("m2m-feed");
    private RocksStore? _store;

    protected override ValueTask<(ITimeSeriesStore Series, IForwardingFeed Feed)> OpenAsync()
    {
        _store = RocksStore.Open(_directory.Path, new RocksStoreOptions { Durability = Durability.ProcessCrash, BlockCacheBytes = 8 << 20, WriteBufferBytes = 4 << 20 });
        return ValueTask.FromResult<(ITimeSeriesStore, IForwardingFeed)>((new RocksTimeSeriesStore(_store), new RocksForwardingFeed(_store)));
    }

    protected override ValueTask<(ITimeSeriesStore Series, IForwardingFeed Feed)> ReopenAsync()
    {
        _store?.Dispose();
        return OpenAsync();
    }

    public void Dispose()
    {
        _store?.Dispose();
        _directory.Dispose();
    }
}
