using M2M.Storage.Contracts;
using M2M.Storage.Registry;
using M2M.Storage.TimeSeries;

namespace M2M.Storage.Rocks.Tests;

/// <summary>The storage maintenance (retention, cleanup, device deletion) on a real RocksDB database.</summary>
public sealed class RocksLifecycleTests : LifecycleContract
{
    private RocksBackend? _backend;

    protected override (IRegistry Registry, ITimeSeriesStore Series) CreateBackend(TimeProvider time)
    {
        _backend = new RocksBackend(time);
        return (_backend.Registry, new RocksTimeSeriesStore(_backend.Store));
    }

    public override void Dispose()
    {
        Metrics.Dispose();
        _backend?.Dispose();
    }
}
