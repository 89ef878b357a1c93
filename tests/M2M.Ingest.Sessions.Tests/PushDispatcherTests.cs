using System.Collections.Concurrent;
using M2M.Ingest.Connections;
using M2M.Messaging;
using M2M.Messaging.InProcess;
using Microsoft.Extensions.Logging.Abstractions;

namespace M2M.Ingest.Sessions.Tests;

/// <summary>
/// The node's push dispatcher: pushes on device and connection subjects reach the connections the
/// registry holds, with one subscription per node on the in-process bus and none per connection.
/// </summary>
public sealed class PushDispatcherTests : IDisposable
{
    private readonly InProcessMessageBus _bus = new(NullLogger<InProcessMessageBus>.Instance);
    private readonly ConnectionRegistry _registry = new();
    private readonly PushDispatcher _dispatcher;

    public PushDispatcherTests() => _dispatcher = new PushDispatcher(_bus, _registry, NullLogger<PushDispatcher>.Instance);

    public void Dispose() => _dispatcher.Dispose();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private sealed class FakeConnection(string id) : IRegisteredConnection
    {
        public string ConnectionId => id;

        public Guid? DeviceId { get; set; }

        public ConcurrentQueue<string> Pushes { get; } = new();

        public ConnectionInfo Snapshot() => throw new NotSupportedException();

        public void RequestClose(string reason) => throw new NotSupportedException();

        public void Push(BusMessage message) => Pushes.Enqueue(message.Call);
    }

    /// <summary>Connects and identifies a connection the way a session does: registry first, then the dispatcher.</summary>
    private async Task<FakeConnection> ConnectAsync(string id, Guid? device)
    {
        var connection = new FakeConnection(id);
        Assert.True(_registry.TryAdd(connection, 1_000_000));
        Assert.Null(await _dispatcher.SubscribeConnectionAsync(connection, Ct));
        if (device is { } d)
        {
            connection.DeviceId = d;
            _registry.SetDevice(connection, d);
            Assert.Null(await _dispatcher.SubscribeDeviceAsync(connection, d, Ct));
        }
        return connection;
    }

    private Task PublishAsync(string subject, string call) =>
        _bus.PublishAsync(subject, new BusMessage(call, "test-api"), Ct).AsTask();

    [Fact]
    public async Task A_device_push_reaches_only_the_connection_of_that_device()
    {
        var deviceA = Guid.NewGuid();
        var deviceB = Guid.NewGuid();
        var a = await ConnectAsync("n:1", deviceA);
        var b = await ConnectAsync("n:2", deviceB);
        var anonymous = await ConnectAsync("n:3", null);

        await PublishAsync(Topics.Device(deviceA), Calls.SendSettings);
        await PublishAsync(Topics.Device(Guid.NewGuid()), Calls.SendCommands);

        Assert.Equal([Calls.SendSettings], a.Pushes);
        Assert.Empty(b.Pushes);
        Assert.Empty(anonymous.Pushes);
    }

    [Fact]
    public async Task A_connection_push_reaches_that_connection_identified_or_not()
    {
        var identified = await ConnectAsync("n:1", Guid.NewGuid());
        var anonymous = await ConnectAsync("n:2", null);

        await PublishAsync(Topics.Connection("n:2"), Calls.Disconnect);
        await PublishAsync(Topics.Connection("n:1"), Calls.SendCommands);
        await PublishAsync(Topics.Connection("n:9"), Calls.Disconnect);
        await PublishAsync(Topics.Connection("n:"), Calls.Disconnect);

        Assert.Equal([Calls.SendCommands], identified.Pushes);
        Assert.Equal([Calls.Disconnect], anonymous.Pushes);
    }

    [Fact]
    public async Task The_node_holds_one_subscription_per_prefix_and_none_per_connection()
    {
        Assert.True(_dispatcher.IsNodeWide);
        for (var i = 0; i < 50; i++)
        {
            await ConnectAsync($"n:{i}", Guid.NewGuid());
        }

        Assert.Equal(0, _bus.SubjectCount);
        Assert.Equal(2, _bus.PrefixCount);
    }

    [Fact]
    public async Task A_removed_connection_gets_nothing_and_many_connect_disconnect_cycles_leave_nothing_behind()
    {
        var device = Guid.NewGuid();
        for (var i = 0; i < 2_000; i++)
        {
            var connection = await ConnectAsync($"n:{i}", i % 2 == 0 ? device : Guid.NewGuid());
            _registry.Remove(connection);
            await PublishAsync(Topics.Device(device), Calls.SendSettings);
            await PublishAsync(Topics.Connection(connection.ConnectionId), Calls.Disconnect);
            Assert.Empty(connection.Pushes);
        }

        Assert.Equal(0, _registry.Count);
        Assert.False(_registry.IsConnected(device));
        Assert.Equal(0, _bus.SubjectCount);
        Assert.Equal(2, _bus.PrefixCount);
        Assert.Equal(0, _dispatcher.Delivered);
    }

    [Fact]
    public async Task A_device_that_moves_to_a_new_connection_gets_its_pushes_there()
    {
        var device = Guid.NewGuid();
        var old = await ConnectAsync("n:1", device);
        await PublishAsync(Topics.Device(device), Calls.SendSettings);

        // Reconnected: both are held for a moment (the old one is being closed), then the old one leaves.
        var moved = await ConnectAsync("n:2", device);
        await PublishAsync(Topics.Device(device), Calls.SendCommands);
        _registry.Remove(old);
        await PublishAsync(Topics.Device(device), Calls.Disconnect);

        Assert.Equal([Calls.SendSettings, Calls.SendCommands], old.Pushes);
        Assert.Equal([Calls.SendCommands, Calls.Disconnect], moved.Pushes);
    }

    [Fact]
    public async Task Pushes_published_while_connections_come_and_go_reach_every_connection_that_stays()
    {
        var stayers = new FakeConnection[20];
        var devices = new Guid[stayers.Length];
        for (var i = 0; i < stayers.Length; i++)
        {
            devices[i] = Guid.NewGuid();
            stayers[i] = await ConnectAsync($"stay:{i}", devices[i]);
        }

        var churn = Task.Run(async () =>
        {
            for (var i = 0; i < 2_000; i++)
            {
                var c = await ConnectAsync($"churn:{i}", devices[i % devices.Length]);
                _registry.Remove(c);
            }
        }, Ct);
        for (var round = 0; round < 50; round++)
        {
            foreach (var device in devices)
            {
                await PublishAsync(Topics.Device(device), Calls.SendSettings);
            }
        }
        await churn;

        Assert.All(stayers, s => Assert.Equal(50, s.Pushes.Count));
        Assert.Equal(stayers.Length, _registry.Count);
    }

    [Fact]
    public async Task On_a_bus_without_prefix_routing_each_connection_subscribes_to_its_own_subjects()
    {
        var bus = new ExactOnlyBus(_bus);
        using var dispatcher = new PushDispatcher(bus, _registry, NullLogger<PushDispatcher>.Instance);
        var device = Guid.NewGuid();
        var connection = new FakeConnection("n:1") { DeviceId = device };

        Assert.False(dispatcher.IsNodeWide);
        await using (var onConnection = await dispatcher.SubscribeConnectionAsync(connection, Ct))
        await using (var onDevice = await dispatcher.SubscribeDeviceAsync(connection, device, Ct))
        {
            Assert.NotNull(onConnection);
            Assert.NotNull(onDevice);
            Assert.Equal(2, _bus.SubjectCount);
            await PublishAsync(Topics.Device(device), Calls.SendSettings);
            await PublishAsync(Topics.Connection("n:1"), Calls.Disconnect);
        }
        await PublishAsync(Topics.Device(device), Calls.SendCommands);

        Assert.Equal([Calls.SendSettings, Calls.Disconnect], connection.Pushes);
        Assert.Equal(0, _bus.SubjectCount);
        Assert.Equal(0, _bus.PrefixCount);
    }

    /// <summary>A bus that only subscribes to exact subjects, as a broker's bus does.</summary>
    private sealed class ExactOnlyBus(IMessageBus inner) : IMessageBus
    {
        public ValueTask PublishAsync(string subject, BusMessage message, CancellationToken cancellationToken = default) =>
            inner.PublishAsync(subject, message, cancellationToken);

        public ValueTask<IAsyncDisposable> SubscribeAsync(string subject, Func<BusMessage, ValueTask> handler, CancellationToken cancellationToken = default) =>
            inner.SubscribeAsync(subject, handler, cancellationToken);
    }
}
