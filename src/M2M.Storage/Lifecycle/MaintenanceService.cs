using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace M2M.Storage.Lifecycle;

/// <summary>
/// Runs the storage maintenance on schedule: the retention job and the cleanup job when the host starts
/// and then every <see cref="RetentionOptions.Interval"/> / <see cref="CleanupOptions.Interval"/> (a
/// retention run that stopped at its per-run limit is followed by another one minute later), and the
/// device-deletion worker whenever a deletion is queued (and every few minutes for stale entries).
/// </summary>
internal sealed class MaintenanceService(IServiceProvider services, IServiceProviderIsService isService, TimeProvider time, ILogger<MaintenanceService> logger)
    : BackgroundService
{
    private static readonly TimeSpan Continuation = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan DeletionPoll = TimeSpan.FromMinutes(5);

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!isService.IsService(typeof(Registry.IRegistry)) || !isService.IsService(typeof(TimeSeries.ITimeSeriesStore)))
        {
            logger.LogWarning("No storage backend is registered: retention and cleanup do not run.");
            return Task.CompletedTask;
        }
        var retention = services.GetRequiredService<RetentionJob>();
        var cleanup = services.GetRequiredService<CleanupJob>();
        var deletions = services.GetRequiredService<DeviceDeletions>();
        return Task.WhenAll(
            Task.Run(() => RetentionLoopAsync(retention, stoppingToken), CancellationToken.None),
            Task.Run(() => CleanupLoopAsync(cleanup, stoppingToken), CancellationToken.None),
            Task.Run(() => DeletionLoopAsync(deletions, stoppingToken), CancellationToken.None));
    }

    private async Task RetentionLoopAsync(RetentionJob retention, CancellationToken stoppingToken)
    {
        if (!retention.Options.Enabled)
        {
            return;
        }
        var trigger = "start";
        while (!stoppingToken.IsCancellationRequested)
        {
            var delay = retention.Options.Interval;
            try
            {
                var report = await retention.RunAsync(trigger, stoppingToken).ConfigureAwait(false);
                if (report is { Complete: false, Error: null })
                {
                    delay = delay < Continuation ? delay : Continuation;
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                logger.LogError(e, "Retention run failed");
            }
            trigger = "schedule";
            if (!await DelayAsync(delay, stoppingToken).ConfigureAwait(false))
            {
                return;
            }
        }
    }

    private async Task CleanupLoopAsync(CleanupJob cleanup, CancellationToken stoppingToken)
    {
        if (!cleanup.Options.Enabled)
        {
            return;
        }
        var trigger = "start";
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await cleanup.RunAsync(trigger, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                logger.LogError(e, "Registry cleanup failed");
            }
            trigger = "schedule";
            if (!await DelayAsync(cleanup.Options.Interval, stoppingToken).ConfigureAwait(false))
            {
                return;
            }
        }
    }

    private async Task DeletionLoopAsync(DeviceDeletions deletions, CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await deletions.RunPendingAsync(all: false, stoppingToken).ConfigureAwait(false);
                await deletions.WaitAsync(DeletionPoll, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                logger.LogError(e, "Device deletion worker failed");
                if (!await DelayAsync(TimeSpan.FromSeconds(30), stoppingToken).ConfigureAwait(false))
                {
                    return;
                }
            }
        }
    }

    private async Task<bool> DelayAsync(TimeSpan delay, CancellationToken stoppingToken)
    {
        try
        {
            await Task.Delay(delay, time, stoppingToken).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
