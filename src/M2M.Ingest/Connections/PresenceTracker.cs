using System.Collections.Concurrent;
using M2M.Ingest.Hosting;
using M2M.Messaging;
using M2M.Messaging.Presence;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace M2M.Ingest.Connections;

/// <summary>
/// Shares this node's device connections with the other nodes through the <see cref="IPresenceStore"/>
/// (when the host has one, i.e. distributed): claims a device when it identifies here, closes the
/// connection it replaced (on this node or another: one live session per device), releases a device
/// when its last connection here ends, and renews the node's lease every
/// <see cref="IngestOptions.PresenceRefresh"/> (the claims live as long as the lease: an idle device
/// costs the store nothing). When the lease had lapsed (a pass came too late, or the store lost it),
/// every device held here is claimed again. Changes are coalesced per device (a set of dirty ids,
/// bounded by the devices held), and each pass reads the registry's current state, so a burst of
/// reconnections costs one store update per device; up to <see cref="StoreConcurrency"/> devices are
/// updated at once.
/// </summary>
internal sealed class PresenceTracker(
    ConnectionRegistry registry,
    IngestNode node,
    IMessageBus bus,
    IOptions<IngestOptions> options,
    IServiceProvider services,
    ILogger<PresenceTracker> logger) : BackgroundService
{
    private readonly ConcurrentDictionary<Guid, byte> _dirty = new();

    /// <summary>The last-seen time each device held here has in the shared presence.</summary>
    private readonly ConcurrentDictionary<Guid, DateTimeOffset> _shared = new();
    private readonly SemaphoreSlim _signal = new(0, 1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (services.GetService<IPresenceStore>() is not { } store)
        {
            return;
        }
        registry.DeviceChanged = MarkDirty;
        var refresh = options.Value.PresenceRefresh;
        var nextRefresh = DateTime.UtcNow;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var wait = nextRefresh - DateTime.UtcNow;
                if (wait > TimeSpan.Zero)
                {
                    await _signal.WaitAsync(wait, stoppingToken);
                }
                if (DateTime.UtcNow >= nextRefresh)
                {
                    await RenewAsync(store, stoppingToken);
                    await ShareLastSeenAsync(store, stoppingToken);
                    nextRefresh = DateTime.UtcNow + refresh;
                }
                await SyncDirtyAsync(store, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // The store is unreachable: the dirty set keeps what is left, retried shortly.
                logger.LogWarning(e, "Presence update failed; retrying");
                await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
        registry.DeviceChanged = null;
    }

    private void MarkDirty(Guid deviceId)
    {
        _dirty[deviceId] = 0;
        if (_signal.CurrentCount == 0)
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
    }

    private Task SyncDirtyAsync(IPresenceStore store, CancellationToken cancellationToken) =>
        Parallel.ForEachAsync(_dirty.Keys, Concurrency(cancellationToken), async (deviceId, ct) =>
        {
            _dirty.TryRemove(deviceId, out _);
            try
            {
                await SyncAsync(store, deviceId, ct);
            }
            catch
            {
                MarkDirty(deviceId);
                throw;
            }
        });

    /// <summary>
    /// Store updates in flight at once. Each is a round trip or two to the store, so a node claiming
    /// many devices at once (a reconnect storm: 17,000 per node in the 100,000-device run, or all of
    /// them again after a lapsed lease) could not do it one after the other in reasonable time.
    /// </summary>
    internal const int StoreConcurrency = 32;

    private static ParallelOptions Concurrency(CancellationToken cancellationToken) =>
        new() { MaxDegreeOfParallelism = StoreConcurrency, CancellationToken = cancellationToken };

    private async Task SyncAsync(IPresenceStore store, Guid deviceId, CancellationToken cancellationToken)
    {
        var live = registry.GetByDevice(deviceId);
        if (live.Count == 0)
        {
            _shared.TryRemove(deviceId, out _);
            await store.ReleaseAsync(deviceId, node.Name, cancellationToken);
            return;
        }
        var newest = live.MaxBy(c => c.IdentifiedAt ?? c.ConnectedAt)!;
        var replaced = await store.ClaimAsync(Presence(deviceId, newest), cancellationToken);
        _shared[deviceId] = newest.LastActivity;
        foreach (var older in live)
        {
            if (older.ConnectionId != newest.ConnectionId)
            {
                await CloseAsync(older.ConnectionId, deviceId, cancellationToken);
            }
        }
        if (replaced is not null && live.All(c => c.ConnectionId != replaced.ConnectionId))
        {
            await CloseAsync(replaced.ConnectionId, deviceId, cancellationToken);
        }
    }

    private async Task RenewAsync(IPresenceStore store, CancellationToken cancellationToken)
    {
        if (await store.RenewAsync(node.Name, cancellationToken))
        {
            return;
        }
        // The lease had lapsed (or this is the first pass): the claims made under it are not live.
        foreach (var connection in registry.GetAll())
        {
            if (connection.DeviceId is { } deviceId)
            {
                _dirty[deviceId] = 0;
            }
        }
    }

    /// <summary>Updates the shared last-seen time of the devices whose activity moved past <see cref="IngestOptions.PresenceLastSeenInterval"/>.</summary>
    private Task ShareLastSeenAsync(IPresenceStore store, CancellationToken cancellationToken)
    {
        var interval = options.Value.PresenceLastSeenInterval;
        var due = registry.GetAll().Where(c => c.DeviceId is { } id && _shared.TryGetValue(id, out var shared) && c.LastActivity - shared >= interval);
        return Parallel.ForEachAsync(due, Concurrency(cancellationToken), async (connection, ct) =>
        {
            var deviceId = connection.DeviceId!.Value;
            await store.RefreshAsync(Presence(deviceId, connection), ct);
            _shared[deviceId] = connection.LastActivity;
            if (registry.GetByDevice(deviceId).Count == 0)
            {
                // The connection ended meanwhile: the device's next sync releases it (and forgets it here).
                MarkDirty(deviceId);
            }
        });
    }

    /// <summary>Closes a replaced connection wherever it is: its node subscribes to its connection subject.</summary>
    private ValueTask CloseAsync(string connectionId, Guid deviceId, CancellationToken cancellationToken)
    {
        logger.LogInformation("Device {DeviceId} reconnected; closing its previous connection {ConnectionId}", deviceId, connectionId);
        return bus.PublishAsync(
            Topics.Connection(connectionId),
            new BusMessage(Calls.Disconnect, node.Name, Topics.Connection(connectionId))
                .With("device_id", deviceId.ToString("D"))
                .With("reason", "reconnected elsewhere"),
            cancellationToken);
    }

    private DevicePresence Presence(Guid deviceId, ConnectionInfo connection) =>
        new(deviceId, node.Name, connection.ConnectionId, connection.ConnectedAt, connection.LastActivity);
}
