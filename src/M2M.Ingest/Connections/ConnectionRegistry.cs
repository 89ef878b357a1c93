using System.Collections.Concurrent;
using M2M.Messaging;

namespace M2M.Ingest.Connections;

/// <summary>A live connection as the registry sees it (implemented by the device session).</summary>
internal interface IRegisteredConnection
{
    string ConnectionId { get; }

    Guid? DeviceId { get; }

    ConnectionInfo Snapshot();

    /// <summary>Asks the connection to close (returns at once; the session closes on its own loop).</summary>
    void RequestClose(string reason);

    /// <summary>
    /// A push addressed to this connection or its device (<c>send_settings</c>, <c>send_commands</c>,
    /// <c>disconnect</c>). Called on the publisher's thread: queues work, never waits.
    /// </summary>
    void Push(BusMessage message);
}

/// <summary>The in-memory <see cref="IConnectionRegistry"/> of this node.</summary>
internal sealed class ConnectionRegistry : IConnectionRegistry
{
    private readonly ConcurrentDictionary<string, IRegisteredConnection> _connections;
    private readonly ConcurrentDictionary<string, IRegisteredConnection>.AlternateLookup<ReadOnlySpan<char>> _connectionsBySpan;
    // Kept beside the dictionary: its Count takes every lock, and a check-then-add on it lets
    // simultaneous accepts overshoot the limit. A slot is reserved before the add.
    private int _count;
    // The connections of each identified device. Almost every device has one, so each value is an
    // immutable array (one small object per device instead of a dictionary of its own), replaced
    // as a whole under _byDeviceWrites; readers take the array they find without a lock.
    private readonly ConcurrentDictionary<Guid, IRegisteredConnection[]> _byDevice = new();

    private readonly Lock _byDeviceWrites = new();

    // Set once the node stops: every connection, present or added later, is asked to close.
    private string? _closeAllReason;

    public ConnectionRegistry()
    {
        _connections = new(StringComparer.Ordinal);
        _connectionsBySpan = _connections.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    /// <summary>
    /// Called (on the session's thread, must not block) when a device gains or loses a connection on
    /// this node; the presence tracker shares it with the other nodes.
    /// </summary>
    internal Action<Guid>? DeviceChanged { get; set; }

    public int Count => Volatile.Read(ref _count);

    /// <summary>The live connections (a moment's view, for the node's session ticker).</summary>
    internal IEnumerable<IRegisteredConnection> Live => _connections.Values;

    public IReadOnlyList<ConnectionInfo> GetAll() => [.. _connections.Values.Select(c => c.Snapshot())];

    public ConnectionInfo? Get(string connectionId) =>
        _connections.TryGetValue(connectionId, out var connection) ? connection.Snapshot() : null;

    public IReadOnlyList<ConnectionInfo> GetByDevice(Guid deviceId) =>
        _byDevice.TryGetValue(deviceId, out var set) ? [.. set.Select(c => c.Snapshot())] : [];

    /// <summary>The live connection <paramref name="connectionId"/> (no string needed: a push's subject is sliced).</summary>
    internal bool TryGetLive(ReadOnlySpan<char> connectionId, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IRegisteredConnection? connection) =>
        _connectionsBySpan.TryGetValue(connectionId, out connection);

    /// <summary>The live connections identified as <paramref name="deviceId"/> (a moment's view; empty when none).</summary>
    internal ReadOnlySpan<IRegisteredConnection> LiveOf(Guid deviceId) =>
        _byDevice.TryGetValue(deviceId, out var set) ? set : [];

    public bool IsConnected(Guid deviceId) => _byDevice.TryGetValue(deviceId, out var set) && set.Length > 0;

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
        foreach (var connection in set)
        {
            connection.RequestClose(reason);
            count++;
        }
        return count;
    }

    /// <summary>Adds a new connection; <c>false</c> when the node already holds <paramref name="max"/>.</summary>
    internal bool TryAdd(IRegisteredConnection connection, int max) => TryReserve(max) && AddReserved(connection);

    /// <summary>
    /// Takes a place for a connection about to be created; <c>false</c> when the node already holds
    /// <paramref name="max"/>. The place is given back by <see cref="Remove"/> once the connection is
    /// added (<see cref="AddReserved"/>), or by <see cref="Release"/> if it never is.
    /// </summary>
    internal bool TryReserve(int max)
    {
        if (Interlocked.Increment(ref _count) > max)
        {
            Interlocked.Decrement(ref _count);
            return false;
        }
        return true;
    }

    /// <summary>Gives back a place taken by <see cref="TryReserve"/> for a connection that was never added.</summary>
    internal void Release() => Interlocked.Decrement(ref _count);

    /// <summary>Adds a connection into a place taken by <see cref="TryReserve"/> (given back when its id is already present).</summary>
    internal bool AddReserved(IRegisteredConnection connection)
    {
        if (_connections.TryAdd(connection.ConnectionId, connection))
        {
            // After the add (a full fence): either CloseAll's sweep finds this connection or this read finds its reason.
            if (Volatile.Read(ref _closeAllReason) is { } reason)
            {
                connection.RequestClose(reason);
            }
            return true;
        }
        Release();
        return false;
    }

    /// <summary>
    /// Asks every connection to close, and every connection added from now on (the node is stopping:
    /// one sweep instead of a shutdown registration per connection).
    /// </summary>
    internal void CloseAll(string reason)
    {
        Interlocked.CompareExchange(ref _closeAllReason, reason, null);
        foreach (var connection in _connections.Values)
        {
            connection.RequestClose(reason);
        }
    }

    /// <summary>Records that <paramref name="connection"/> is now identified as <paramref name="deviceId"/>.</summary>
    internal void SetDevice(IRegisteredConnection connection, Guid deviceId)
    {
        // Under the lock that Remove takes to drop an empty set: else a connection could be added to a
        // set that a leaving connection of the same device is removing, and be unfindable.
        lock (_byDeviceWrites)
        {
            if (!_byDevice.TryGetValue(deviceId, out var set))
            {
                _byDevice[deviceId] = [connection];
            }
            else if (Array.IndexOf(set, connection) < 0)
            {
                _byDevice[deviceId] = [.. set, connection];
            }
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
            if (_byDevice.TryGetValue(deviceId, out var set) && Array.IndexOf(set, connection) >= 0)
            {
                if (set.Length == 1)
                {
                    _byDevice.TryRemove(deviceId, out _);
                }
                else
                {
                    _byDevice[deviceId] = [.. set.Where(c => !ReferenceEquals(c, connection))];
                }
            }
        }
        DeviceChanged?.Invoke(deviceId);
    }
}
