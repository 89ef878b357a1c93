using M2M.Messaging;
using Microsoft.Extensions.Logging;

namespace M2M.Ingest.Connections;

/// <summary>
/// Routes the pushes addressed to this node's devices and connections (<c>receivers.device.…</c>,
/// <c>receivers.connection.…</c>) to their sessions. On a bus that can route by prefix in this
/// process (<see cref="IPrefixSubscriptions"/>: the single-node bus) the node holds two prefix
/// subscriptions in all, and each push is looked up in the <see cref="ConnectionRegistry"/>: a
/// connection or device is reached as soon as the registry knows it (added, identified) and no
/// longer once it is removed, with nothing per connection on the bus. On a broker's bus the broker
/// must know which node holds which device, so each session subscribes to its own subjects
/// (<see cref="SubscribeConnectionAsync"/>, <see cref="SubscribeDeviceAsync"/>) as before.
/// </summary>
internal sealed class PushDispatcher : IDisposable
{
    private readonly IMessageBus _bus;
    private readonly ConnectionRegistry _registry;
    private readonly ILogger<PushDispatcher> _logger;
    private readonly Lock _startLock = new();
    private IDisposable? _devices;
    private IDisposable? _connections;
    private bool _disposed;

    public PushDispatcher(IMessageBus bus, ConnectionRegistry registry, ILogger<PushDispatcher> logger)
    {
        _bus = bus;
        _registry = registry;
        _logger = logger;
        IsNodeWide = bus is IPrefixSubscriptions;
    }

    /// <summary>Whether pushes are routed by this dispatcher (one subscription per node) rather than by per-session subscriptions.</summary>
    public bool IsNodeWide { get; }

    /// <summary>Pushes handed to a connection by the node-wide route (diagnostics and tests).</summary>
    public long Delivered => Interlocked.Read(ref _delivered);

    private long _delivered;

    /// <summary>Puts the node-wide subscriptions in place if the bus has them and they are not yet (any thread).</summary>
    public void EnsureStarted()
    {
        if (!IsNodeWide || Volatile.Read(ref _devices) is not null)
        {
            return;
        }
        lock (_startLock)
        {
            if (_devices is null && !_disposed)
            {
                var prefixes = (IPrefixSubscriptions)_bus;
                _connections = prefixes.SubscribePrefix(Topics.ConnectionPrefix, OnConnectionPush);
                Volatile.Write(ref _devices, prefixes.SubscribePrefix(Topics.DevicePrefix, OnDevicePush));
            }
        }
    }

    /// <summary>
    /// Makes pushes to <paramref name="connection"/>'s connection subject reach it: nothing to do on
    /// the node-wide route (the registry finds it), else a subscription of its own (the handle to
    /// dispose when it ends).
    /// </summary>
    public async ValueTask<IAsyncDisposable?> SubscribeConnectionAsync(IRegisteredConnection connection, CancellationToken cancellationToken)
    {
        if (IsNodeWide)
        {
            EnsureStarted();
            return null;
        }
        return await _bus.SubscribeAsync(Topics.Connection(connection.ConnectionId), PushHandler(connection), cancellationToken);
    }

    /// <summary>
    /// Makes pushes to device <paramref name="deviceId"/> reach <paramref name="connection"/> (which
    /// the registry already holds as that device's): nothing to do on the node-wide route, else a
    /// subscription of its own.
    /// </summary>
    public async ValueTask<IAsyncDisposable?> SubscribeDeviceAsync(IRegisteredConnection connection, Guid deviceId, CancellationToken cancellationToken)
    {
        if (IsNodeWide)
        {
            EnsureStarted();
            return null;
        }
        return await _bus.SubscribeAsync(Topics.Device(deviceId), PushHandler(connection), cancellationToken);
    }

    private static Func<BusMessage, ValueTask> PushHandler(IRegisteredConnection connection) => message =>
    {
        connection.Push(message);
        return ValueTask.CompletedTask;
    };

    private ValueTask OnDevicePush(string subject, BusMessage message)
    {
        if (!Topics.TryParseDevice(subject, out var deviceId))
        {
            _logger.LogDebug("Push on {Subject} dropped: not a device subject", subject);
            return ValueTask.CompletedTask;
        }
        foreach (var connection in _registry.LiveOf(deviceId))
        {
            Deliver(connection, message);
        }
        return ValueTask.CompletedTask;
    }

    private ValueTask OnConnectionPush(string subject, BusMessage message)
    {
        if (_registry.TryGetLive(subject.AsSpan(Topics.ConnectionPrefix.Length), out var connection))
        {
            Deliver(connection, message);
        }
        return ValueTask.CompletedTask;
    }

    private void Deliver(IRegisteredConnection connection, BusMessage message)
    {
        Interlocked.Increment(ref _delivered);
        connection.Push(message);
    }

    public void Dispose()
    {
        lock (_startLock)
        {
            _disposed = true;
            _devices?.Dispose();
            _connections?.Dispose();
        }
    }
}
