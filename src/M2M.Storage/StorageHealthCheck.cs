using M2M.Storage.Files;
using M2M.Storage.Registry;
using M2M.Storage.TimeSeries;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace M2M.Storage;

/// <summary>
/// Healthy while the backend's stores can be obtained (the backend opened) and the batch writer has
/// not stopped on a failed commit; unhealthy when the backend cannot be opened (the exception is
/// reported). Engine-neutral: a backend adds its own check of the engine's state beside it.
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
        if (services.GetService<RecordWriter>()?.Fault is { } fault)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy("The record writer stopped after a failed commit.", fault));
        }
        return Task.FromResult(HealthCheckResult.Healthy("The storage backend is open and the record writer runs."));
    }
}
