using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace M2M.Storage.Postgres.TimeSeries;

/// <summary>
/// Creates the partitions of the current month and the next <see cref="PostgresStorageOptions.MonthsAhead"/>
/// once an hour, so that the first records of a month never wait for its partition. (Records of a month
/// without a partition still create it on demand; this only keeps the DDL off the ingest path.)
/// </summary>
internal sealed class PartitionMaintenance(IServiceProvider services, ILogger<PartitionMaintenance> logger) : BackgroundService
{
    private static readonly TimeSpan Period = TimeSpan.FromHours(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var time = services.GetRequiredService<TimeProvider>();
        using var timer = new PeriodicTimer(Period, time);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            try
            {
                await services.GetRequiredService<PostgresStore>().Partitions.EnsureAheadAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException)
            {
                logger.LogWarning(e, "Creating the coming months' partitions failed; retrying in {Period}.", Period);
            }
        }
    }
}
