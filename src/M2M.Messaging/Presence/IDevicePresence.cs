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
/// replaces the previous holder, which the claiming node then closes. A claim stays live while its
/// node's lease does: a node renews one lease for all its devices (<see cref="RenewAsync"/>) instead
/// of refreshing every device, so the devices of a node that died stop showing as connected when its
/// lease expires, and the claims of a node's earlier run (same name, restarted) are never live.
/// </summary>
public interface IPresenceStore : IDevicePresence
{
    /// <summary>
    /// Records <paramref name="presence"/> as the device's live connection and returns the one it
    /// replaced (<c>null</c> when there was none, or it was this same connection).
    /// </summary>
    ValueTask<DevicePresence?> ClaimAsync(DevicePresence presence, CancellationToken cancellationToken = default);

    /// <summary>
    /// Renews the lease of <paramref name="node"/> (this process's run of it). <c>false</c> when the lease
    /// had lapsed (expired, lost by the store, or never taken): the claims made under it are no longer
    /// live, and the node must claim its devices again.
    /// </summary>
    ValueTask<bool> RenewAsync(string node, CancellationToken cancellationToken = default);

    /// <summary>
    /// Moves the last-seen time of the device's claim forward to <paramref name="presence"/>'s if the
    /// claim is still that connection's (made by this process); nothing otherwise.
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
/// <param name="LastSeen">When the device last sent anything: live on the node holding it; as of the claim elsewhere.</param>
public sealed record DevicePresence(Guid DeviceId, string Node, string ConnectionId, DateTimeOffset ConnectedAt, DateTimeOffset LastSeen);

/// <summary>
/// Which devices are connected, answered from memory for many devices at once (the fleet's online
/// column and its sort): this node's connection registry in the single process, a watched copy of
/// the shared presence on an API node of the distributed topology.
/// </summary>
public interface IConnectedDevices
{
    /// <summary>Completes once <see cref="IsConnected"/> answers for every device (a shared copy's first load); at once for a local registry.</summary>
    ValueTask WaitReadyAsync(CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

    /// <summary>Whether device <paramref name="deviceId"/> has a live connection.</summary>
    bool IsConnected(Guid deviceId);
}
