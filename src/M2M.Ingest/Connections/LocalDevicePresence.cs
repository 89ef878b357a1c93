using M2M.Messaging.Presence;

namespace M2M.Ingest.Connections;

/// <summary>Presence from this node's connection registry: the whole truth when there is one node.</summary>
internal sealed class LocalDevicePresence(IConnectionRegistry registry, Hosting.IngestNode node) : IDevicePresence
{
    public ValueTask<DevicePresence?> GetAsync(Guid deviceId, CancellationToken cancellationToken = default)
    {
        ConnectionInfo? latest = null;
        foreach (var connection in registry.GetByDevice(deviceId))
        {
            if (latest is null || connection.LastActivity > latest.LastActivity)
            {
                latest = connection;
            }
        }
        return ValueTask.FromResult(latest is null
            ? null
            : new DevicePresence(deviceId, node.Name, latest.ConnectionId, latest.ConnectedAt, latest.LastActivity));
    }
}
