using M2M.Storage.Entities;
using M2M.Storage.Registry;
using M2M.Storage.TimeSeries;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace M2M.Storage.Lifecycle;

/// <summary>
/// Deletion of devices for real (<see cref="IDeviceStore.PurgeAsync"/>) and, when asked, of their time
/// series in the background: month by month (<see cref="ITimeSeriesStore.ExpireRangeAsync"/>, so the
/// storage's write lock is held for one month of one series at a time), progress written to the
/// <see cref="DeviceDeletion"/> journal entry, then one <see cref="ITimeSeriesStore.DeleteRangeAsync"/> over
/// all time that removes the latest values and anything written meanwhile. An entry whose worker stopped
/// (a crash, a restart, another node that died) is resumed once it has not changed for
/// <see cref="StaleAfter"/>.
/// </summary>
public sealed class DeviceDeletions
{
    /// <summary>An entry in progress untouched for this long is taken over by any node.</summary>
    public static readonly TimeSpan StaleAfter = TimeSpan.FromMinutes(10);

    private readonly IDeviceStore _devices;
    private readonly IRegistry _registry;
    private readonly ITimeSeriesStore _series;
    private readonly TimeProvider _time;
    private readonly MaintenanceMetrics _metrics;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _signal = new(0, 1);
    private readonly SemaphoreSlim _runGate = new(1, 1);
    private readonly HashSet<Guid> _mine = [];
    private readonly Lock _mineLock = new();

    public DeviceDeletions(IDeviceStore devices, IRegistry registry, ITimeSeriesStore series, MaintenanceMetrics metrics,
        TimeProvider? timeProvider = null, ILogger<DeviceDeletions>? logger = null)
    {
        _devices = devices;
        _registry = registry;
        _series = series;
        _metrics = metrics;
        _time = timeProvider ?? TimeProvider.System;
        _logger = logger ?? NullLogger<DeviceDeletions>.Instance;
    }

    /// <summary>
    /// Deletes the device for real now (registry, ident, domain membership) and, with
    /// <paramref name="purgeData"/>, queues the deletion of its series for the background worker.
    /// <c>null</c> when the id is unknown.
    /// </summary>
    public async ValueTask<DeviceDeletion?> DeleteAsync(Guid id, bool purgeData, CancellationToken cancellationToken = default)
    {
        var deletion = await _devices.PurgeAsync(id, purgeData, cancellationToken).ConfigureAwait(false);
        if (deletion is not null)
        {
            _logger.LogInformation("Device {Device} ({Ident}) deleted; data {Data}", id, deletion.Ident, deletion.PurgeData ? "being purged" : "kept");
        }
        if (deletion?.State == DeviceDeletionState.Data)
        {
            lock (_mineLock)
            {
                _mine.Add(id);
            }
            Signal();
        }
        return deletion;
    }

    /// <summary>The journal entry of a deleted device, or <c>null</c>.</summary>
    public ValueTask<DeviceDeletion?> GetAsync(Guid id, CancellationToken cancellationToken = default)
        => DeviceDeletionJournal.ReadAsync(_registry, id, cancellationToken);

    /// <summary>Wakes the background worker.</summary>
    public void Signal()
    {
        try
        {
            _signal.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already signalled.
        }
    }

    /// <summary>Waits until <see cref="Signal"/> or <paramref name="timeout"/>.</summary>
    internal async Task WaitAsync(TimeSpan timeout, CancellationToken cancellationToken)
        => await _signal.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// Works through the journal: finishes the registry part of interrupted deletions and purges the
    /// series of entries in <see cref="DeviceDeletionState.Data"/> — those this process queued, and (or,
    /// with <paramref name="all"/>, every one) those untouched for <see cref="StaleAfter"/>. Returns how
    /// many entries it finished.
    /// </summary>
    public async Task<int> RunPendingAsync(bool all = false, CancellationToken cancellationToken = default)
    {
        // One pass at a time in this process (the worker and the cleanup job both call it).
        await _runGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await RunPendingLockedAsync(all, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _runGate.Release();
        }
    }

    private async Task<int> RunPendingLockedAsync(bool all, CancellationToken cancellationToken)
    {
        var finished = 0;
        var now = _time.GetUtcNow();
        foreach (var entry in await DeviceDeletionJournal.ListAsync(_registry, cancellationToken).ConfigureAwait(false))
        {
            cancellationToken.ThrowIfCancellationRequested();
            bool mine;
            lock (_mineLock)
            {
                mine = _mine.Contains(entry.Id);
            }
            var stale = all || now - entry.UpdatedAt >= StaleAfter;
            try
            {
                switch (entry.State)
                {
                    case DeviceDeletionState.Registry when stale:
                        _logger.LogWarning("Finishing the interrupted deletion of device {Device} ({Ident})", entry.Id, entry.Ident);
                        var resumed = await _devices.PurgeAsync(entry.Id, entry.PurgeData, cancellationToken).ConfigureAwait(false);
                        if (resumed?.State == DeviceDeletionState.Data)
                        {
                            await PurgeDataAsync(resumed, cancellationToken).ConfigureAwait(false);
                        }
                        finished++;
                        break;
                    case DeviceDeletionState.Data when mine || stale:
                        await PurgeDataAsync(entry, cancellationToken).ConfigureAwait(false);
                        finished++;
                        break;
                }
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                _logger.LogError(e, "Deletion of device {Device} failed; it is retried", entry.Id);
                var failed = await DeviceDeletionJournal.ReadAsync(_registry, entry.Id, CancellationToken.None).ConfigureAwait(false);
                if (failed is not null)
                {
                    await DeviceDeletionJournal.WriteAsync(_registry, failed with { Error = $"{e.GetType().Name}: {e.Message}" }, CancellationToken.None).ConfigureAwait(false);
                }
            }
            finally
            {
                lock (_mineLock)
                {
                    _mine.Remove(entry.Id);
                }
            }
        }
        return finished;
    }

    private async Task PurgeDataAsync(DeviceDeletion entry, CancellationToken cancellationToken)
    {
        var series = DeviceIds.SeriesId(entry.Id);
        var total = entry.RecordsDeleted;
        foreach (var month in await _series.GetMonthsAsync(cancellationToken).ConfigureAwait(false))
        {
            var deleted = await _series.ExpireRangeAsync(series, RetentionPeriods.Start(month), RetentionPeriods.End(month), cancellationToken).ConfigureAwait(false);
            if (deleted > 0)
            {
                total += deleted;
                _metrics.RecordsPurged.Add(deleted);
                entry = entry with { RecordsDeleted = total, UpdatedAt = _time.GetUtcNow(), Error = null };
                await DeviceDeletionJournal.WriteAsync(_registry, entry, CancellationToken.None).ConfigureAwait(false);
            }
        }
        // The latest values, and whatever reached the series during the purge.
        await _series.DeleteRangeAsync(series, null, DateTimeOffset.MinValue, DateTimeOffset.MaxValue, cancellationToken).ConfigureAwait(false);
        var now = _time.GetUtcNow();
        await DeviceDeletionJournal.WriteAsync(_registry, entry with { State = DeviceDeletionState.Done, UpdatedAt = now, CompletedAt = now, Error = null }, CancellationToken.None).ConfigureAwait(false);
        _logger.LogInformation("Device {Device} ({Ident}): {Records} record(s) purged", entry.Id, entry.Ident, total);
    }

    /// <summary>
    /// Removes the journal entries of devices whose series was purged and which finished before
    /// <paramref name="completedBefore"/> (their ids may then be given to new devices); entries of
    /// devices whose data was kept stay. Returns how many were removed.
    /// </summary>
    public async Task<int> PruneAsync(DateTimeOffset completedBefore, CancellationToken cancellationToken = default)
    {
        var removed = 0;
        foreach (var entry in await DeviceDeletionJournal.ListAsync(_registry, cancellationToken).ConfigureAwait(false))
        {
            if (entry is { State: DeviceDeletionState.Done, PurgeData: true, CompletedAt: { } done } && done < completedBefore
                && await DeviceDeletionJournal.RemoveAsync(_registry, entry.Id, cancellationToken).ConfigureAwait(false))
            {
                removed++;
            }
        }
        return removed;
    }
}
