using System.Diagnostics.Metrics;
using M2M.Storage.TimeSeries;

namespace M2M.Storage.Lifecycle;

/// <summary>Counters of the storage maintenance jobs, on the storage meter (<c>M2M.Storage</c>).</summary>
public sealed class MaintenanceMetrics : IDisposable
{
    private readonly Meter? _ownedMeter;

    /// <summary>Creates the counters on a meter of <paramref name="meterFactory"/> (or an own meter without one).</summary>
    public MaintenanceMetrics(IMeterFactory? meterFactory = null)
    {
        var meter = meterFactory?.Create(StorageMetrics.MeterName) ?? (_ownedMeter = new Meter(StorageMetrics.MeterName));
        MonthsDropped = meter.CreateCounter<long>("m2m.storage.retention.months_dropped", "{month}", "Whole months of time series dropped by the retention job.");
        RecordsExpired = meter.CreateCounter<long>("m2m.storage.retention.records_expired", "{record}", "Records deleted by the retention of domains with a shorter retention of their own.");
        RetentionRuns = meter.CreateCounter<long>("m2m.storage.retention.runs", "{run}", "Runs of the retention job, by result (complete, partial, failed).");
        NodesRemoved = meter.CreateCounter<long>("m2m.storage.cleanup.nodes_removed", "{node}", "Soft-deleted registry nodes removed for real by the cleanup job.");
        CleanupRuns = meter.CreateCounter<long>("m2m.storage.cleanup.runs", "{run}", "Runs of the cleanup job, by result (complete, failed).");
        RecordsPurged = meter.CreateCounter<long>("m2m.storage.deletions.records_purged", "{record}", "Records of deleted devices purged in the background.");
    }

    public Counter<long> MonthsDropped { get; }

    public Counter<long> RecordsExpired { get; }

    public Counter<long> RetentionRuns { get; }

    public Counter<long> NodesRemoved { get; }

    public Counter<long> CleanupRuns { get; }

    public Counter<long> RecordsPurged { get; }

    public void Dispose() => _ownedMeter?.Dispose();
}
