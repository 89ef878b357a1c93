using M2M.Storage.Postgres.Schema;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace M2M.Storage.Postgres;

/// <summary>
/// Healthy while the database answers and its schema is at the version this build writes; unhealthy
/// when the schema could not be opened (the exception is reported), the database does not answer, or
/// the schema changed version under the running process (another build migrated it).
/// </summary>
public sealed class PostgresHealthCheck(IServiceProvider services) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        PostgresStore store;
        try
        {
            store = services.GetRequiredService<PostgresStore>();
        }
        catch (Exception e)
        {
            return HealthCheckResult.Unhealthy("The PostgreSQL schema cannot be opened.", e);
        }
        try
        {
            await using var connection = await store.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            var version = PostgresSchema.ReadVersion(connection, store);
            return version == PostgresSchema.CurrentVersion
                ? HealthCheckResult.Healthy($"PostgreSQL schema '{store.Schema}' at version {version}.")
                : HealthCheckResult.Unhealthy($"PostgreSQL schema '{store.Schema}' is at version {version}; this build writes version {PostgresSchema.CurrentVersion}.");
        }
        catch (Exception e) when (e is Npgsql.NpgsqlException or InvalidOperationException or TimeoutException)
        {
            return HealthCheckResult.Unhealthy("PostgreSQL does not answer.", e);
        }
    }
}
