using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace M2M.Storage.Rocks;

/// <summary>
/// Healthy while the embedded database is open; unhealthy when it cannot be opened (the exception is
/// reported) or has been closed.
/// </summary>
public sealed class RocksHealthCheck(IServiceProvider services) : IHealthCheck
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
            return Task.FromResult(HealthCheckResult.Unhealthy("The RocksDB database cannot be opened.", e));
        }
        if (store.IsDisposed)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy("The RocksDB database is closed."));
        }
        return Task.FromResult(HealthCheckResult.Healthy($"RocksDB open at {store.Directory}."));
    }
}
