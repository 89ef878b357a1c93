using M2M.Storage.Files;
using M2M.Storage.Registry;
using M2M.Storage.TimeSeries;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace M2M.Storage;

/// <summary>
/// Healthy while the backend's stores can be obtained (the backend opened) and commits succeed.
/// Unhealthy when the backend cannot be opened (the exception is reported), while the batch writer's
/// commits fail (they are retried: it turns healthy again by itself once they succeed), or after a
/// stop gave up on them. Degraded while the data directory has less free space than
/// <see cref="StorageSpaceOptions.ReservedFreeBytes"/>. Engine-neutral: a backend adds its own check
/// of the engine's state beside it.
/// </summary>
public sealed class StorageHealthCheck(IServiceProvider services) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            services.GetRequiredService<ITimeSeriesStore>();
            services.GetRequiredService<IRegistry>();
            services.GetRequiredService<IFileStore>();
        }
        catch (Exception e)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy("The storage backend cannot be opened.", e));
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
        return Task.FromResult(HealthCheckResult.Healthy("The storage backend is open and the record writer runs."));
    }
}
