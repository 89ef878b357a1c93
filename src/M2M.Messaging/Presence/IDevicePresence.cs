namespace M2M.Messaging.Presence;

/// <summary>
/// Where a device is connected, as every node of the platform sees it: the API's <c>connected</c>
/// and <c>lastSeen</c>. Single node, it is the local connection registry; distributed, a shared
/// store that the ingest nodes keep up to date.
/// </summary>
public interface IDevicePresence
{
    /// <summary>The device's live connection, or <c>null</c> when it has none anywhere.</summary>
    ValueTask<DevicePresence?> GetAsync(Guid deviceId, CancellationToken cancellationToken = default);
}

/// <summary>
/// The shared side of presence, written by ingest nodes. One live connection per device: a claim
/// replaces the previous holder, which the claiming node then closes.
/// </summary>
public interface IPresenceStore : IDevicePresence
{
    /// <summary>
    /// Records <paramref name="presence"/> as the device's live connection and returns the one it
    /// replaced (<c>null</c> when there was none, or it was this same connection).
    /// </summary>
    ValueTask<DevicePresence?> ClaimAsync(DevicePresence presence, CancellationToken cancellationToken = default);

    /// <summary>
    /// Refreshes <paramref name="presence"/> (its last-seen time) if it is still the device's live
    /// connection; records it again if the device has no entry (it expired: refreshed too late).
    /// </summary>
    ValueTask RefreshAsync(DevicePresence presence, CancellationToken cancellationToken = default);

    /// <summary>Forgets the device's presence if it names a connection of <paramref name="node"/>.</summary>
    ValueTask ReleaseAsync(Guid deviceId, string node, CancellationToken cancellationToken = default);
}

/// <summary>A device's live connection.</summary>
/// <param name="DeviceId">The device.</param>
/// <param name="Node">The ingest node holding the connection.</param>
/// <param name="ConnectionId">The connection (unique across nodes).</param>
/// <param name="ConnectedAt">When the connection was accepted.</param>
/// <param name="LastSeen">When the device last sent anything (as of the last refresh).</param>
public sealed record DevicePresence(Guid DeviceId, string Node, string ConnectionId, DateTimeOffset ConnectedAt, DateTimeOffset LastSeen);
