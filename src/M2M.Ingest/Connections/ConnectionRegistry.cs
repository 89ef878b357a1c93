using System.Collections.Concurrent;

namespace M2M.Ingest.Connections;

/// <summary>A live connection as the registry sees it (implemented by the device session).</summary>
internal interface IRegisteredConnection
{
    string ConnectionId { get; }

    Guid? DeviceId { get; }

    ConnectionInfo Snapshot();

    /// <summary>Asks the connection to close (returns at once; the session closes on its own loop).</summary>
    void RequestClose(string reason);
}

/// <summary>The in-memory <see cref="IConnectionRegistry"/> of this node.</summary>
internal sealed class ConnectionRegistry : IConnectionRegistry
{
    private readonly ConcurrentDictionary<string, IRegisteredConnection> _connections = new(StringComparer.Ordinal);
    // Kept beside the dictionary: its Count takes every lock, and a check-then-add on it lets
    // simultaneous accepts overshoot the limit. A slot is reserved before the add.
    private int _count;
    private readonly ConcurrentDictionary<Guid, ConcurrentDictionary<string, IRegisteredConnection>> _byDevice = new();

    private readonly Lock _byDeviceWrites = new();

    /// <summary>
    /// Called (on the session's thread, must not block) when a device gains or loses a connection on
    /// this node; the presence tracker shares it with the other nodes.
    /// </summary>
    internal Action<Guid>? DeviceChanged { get; set; }

    public int Count => Volatile.Read(ref _count);

    public IReadOnlyList<ConnectionInfo> GetAll() => [.. _connections.Values.Select(c => c.Snapshot())];

    public ConnectionInfo? Get(string connectionId) =>
        _connections.TryGetValue(connectionId, out var connection) ? connection.Snapshot() : null;

    public IReadOnlyList<ConnectionInfo> GetByDevice(Guid deviceId) =>
        _byDevice.TryGetValue(deviceId, out var set) ? [.. set.Values.Select(c => c.Snapshot())] : [];

    public bool IsConnected(Guid deviceId) => _byDevice.TryGetValue(deviceId, out var set) && !set.IsEmpty;

    public bool Disconnect(string connectionId, string reason)
    {
        if (!_connections.TryGetValue(connectionId, out var connection))
        {
            return false;
        }
        connection.RequestClose(reason);
        return true;
    }

    public int DisconnectDevice(Guid deviceId, string reason)
    {
        if (!_byDevice.TryGetValue(deviceId, out var set))
        {
            return 0;
        }
        var count = 0;
        foreach (var connection in set.Values)
        {
            connection.RequestClose(reason);
            count++;
        }
        return count;
    }

    /// <summary>Adds a new connection; <c>false</c> when the node already holds <paramref name="max"/>.</summary>
    internal bool TryAdd(IRegisteredConnection connection, int max)
    {
        if (Interlocked.Increment(ref _count) > max)
        {
            Interlocked.Decrement(ref _count);
            return false;
        }
        if (_connections.TryAdd(connection.ConnectionId, connection))
        {
            return true;
        }
        Interlocked.Decrement(ref _count);
        return false;
    }

    /// <summary>Records that <paramref name="connection"/> is now identified as <paramref name="deviceId"/>.</summary>
    internal void SetDevice(IRegisteredConnection connection, Guid deviceId)
    {
        // Under the lock that Remove takes to drop an empty set: else a connection could be added to a
        // set that a leaving connection of the same device is removing, and be unfindable.
        lock (_byDeviceWrites)
        {
            _byDevice.GetOrAdd(deviceId, static _ => new(StringComparer.Ordinal))[connection.ConnectionId] = connection;
        }
        DeviceChanged?.Invoke(deviceId);
    }

    internal void Remove(IRegisteredConnection connection)
    {
        if (_connections.TryRemove(connection.ConnectionId, out _))
        {
            Interlocked.Decrement(ref _count);
        }
        if (connection.DeviceId is not { } deviceId)
        {
            return;
        }
        lock (_byDeviceWrites)
        {
            if (_byDevice.TryGetValue(deviceId, out var set))
            {
                set.TryRemove(connection.ConnectionId, out _);
                if (set.IsEmpty)
                {
                    _byDevice.TryRemove(new KeyValuePair<Guid, ConcurrentDictionary<string, IRegisteredConnection>>(deviceId, set));
                }
            }
        }
        DeviceChanged?.Invoke(deviceId);
    }
}
