using M2M.Storage.Rocks;
using M2M.Storage.TimeSeries;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace M2M.Storage;

/// <summary>
/// Healthy while the embedded database is open and commits succeed. Unhealthy when the database
/// cannot be opened, while the batch writer's commits fail (they are retried: it turns healthy again
/// by itself once they succeed) or after a stop gave up on them. Degraded while the data directory
/// has less free space than <see cref="StorageSpaceOptions.ReservedFreeBytes"/>.
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
        var writer = services.GetService<RecordWriter>();
        if (writer?.Fault is { } fault)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy("The record writer stopped while a commit was failing.", fault));
        }
        if (writer?.CommitError is { } error)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy(
                $"Commits of records fail since {writer.FailingSince:o} ({writer.FailedAttempts} attempts, retried); devices are held back until they succeed.", error));
        }
        if (services.GetService<StorageSpace>() is { } space && space.AvailableBytes() is { } free && free < space.ReservedBytes)
        {
            return Task.FromResult(HealthCheckResult.Degraded(
                $"{free} bytes free in the data directory, under the {space.ReservedBytes} kept for records (uploads are refused)."));
        }
        return Task.FromResult(HealthCheckResult.Healthy($"RocksDB open at {store.Directory}."));
    }
}
