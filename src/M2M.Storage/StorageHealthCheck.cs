using M2M.Storage.Rocks;
using M2M.Storage.TimeSeries;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace M2M.Storage;

/// <summary>
/// Healthy while the embedded database is open and the batch writer has not stopped on a failed
/// commit; unhealthy when the database cannot be opened (the exception is reported).
/// </summary>
public sealed class StorageHealthCheck(IServiceProvider services) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        RocksStore store;
        try
        {
            store = services.GetRequiredService<RocksStore>();
        }
        catch (Exception e)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy("The storage database cannot be opened.", e));
        }
        if (store.IsDisposed)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy("The storage database is closed."));
        }
        if (services.GetService<RecordWriter>()?.Fault is { } fault)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy("The record writer stopped after a failed commit.", fault));
        }
        return Task.FromResult(HealthCheckResult.Healthy($"RocksDB open at {store.Directory}."));
    }
}
