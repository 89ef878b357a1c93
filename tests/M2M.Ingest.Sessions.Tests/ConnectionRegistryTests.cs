using M2M.Ingest.Connections;

namespace M2M.Ingest.Sessions.Tests;

/// <summary>The connection registry under concurrent connects and disconnects of one device.</summary>
public class ConnectionRegistryTests
{
    private sealed class FakeConnection(string id, Guid device) : IRegisteredConnection
    {
        public string ConnectionId => id;

        public Guid? DeviceId => device;

        public ConnectionInfo Snapshot() => throw new NotSupportedException();

        public List<string> CloseRequests { get; } = [];

        public void RequestClose(string reason) => CloseRequests.Add(reason);

        public void Push(M2M.Messaging.BusMessage message) => throw new NotSupportedException();
    }

    [Fact]
    public void Each_connection_of_a_device_is_found_until_the_last_one_leaves()
    {
        var registry = new ConnectionRegistry();
        var device = Guid.NewGuid();
        var first = new FakeConnection("c-1", device);
        var second = new FakeConnection("c-2", device);
        var third = new FakeConnection("c-3", device);
        foreach (var c in new[] { first, second, third })
        {
            Assert.True(registry.TryAdd(c, 10));
            registry.SetDevice(c, device);
        }
        registry.SetDevice(second, device);

        Assert.Equal(3, registry.DisconnectDevice(device, "twice"));
        Assert.Equal(["twice"], second.CloseRequests);

        registry.Remove(second);
        registry.Remove(second);
        Assert.True(registry.IsConnected(device));
        Assert.Equal(2, registry.DisconnectDevice(device, "again"));
        Assert.Equal(["twice", "again"], third.CloseRequests);
        Assert.Equal(["twice"], second.CloseRequests);

        registry.Remove(first);
        Assert.True(registry.IsConnected(device));
        registry.Remove(third);
        Assert.False(registry.IsConnected(device));
        Assert.Equal(0, registry.DisconnectDevice(device, "gone"));
        Assert.Equal(0, registry.Count);
    }

    [Fact]
    public void A_connection_of_another_device_does_not_change_a_devices_connections()
    {
        var registry = new ConnectionRegistry();
        var device = Guid.NewGuid();
        var mine = new FakeConnection("c-1", device);
        var other = new FakeConnection("c-2", Guid.NewGuid());
        registry.TryAdd(mine, 10);
        registry.TryAdd(other, 10);
        registry.SetDevice(mine, device);
        registry.SetDevice(other, other.DeviceId!.Value);

        registry.Remove(other);

        Assert.True(registry.IsConnected(device));
        Assert.Equal(1, registry.DisconnectDevice(device, "bye"));
        Assert.Equal(["bye"], mine.CloseRequests);
    }

    [Fact]
    public async Task A_connection_identified_while_another_of_its_device_leaves_stays_findable()
    {
        var registry = new ConnectionRegistry();
        var device = Guid.NewGuid();
        var lost = 0;
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(3));
        var start = new Barrier(2);
        var leaving = Task.Run(() =>
        {
            start.SignalAndWait();
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                var old = new FakeConnection($"old-{i}", device);
                registry.TryAdd(old, int.MaxValue);
                registry.SetDevice(old, device);
                registry.Remove(old);
            }
        }, TestContext.Current.CancellationToken);
        var arriving = Task.Run(() =>
        {
            start.SignalAndWait();
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                var fresh = new FakeConnection($"new-{i}", device);
                registry.TryAdd(fresh, int.MaxValue);
                registry.SetDevice(fresh, device);
                if (!registry.IsConnected(device))
                {
                    Interlocked.Increment(ref lost);
                    stop.Cancel();
                }
                registry.Remove(fresh);
            }
        }, TestContext.Current.CancellationToken);
        await Task.WhenAll(leaving, arriving);

        Assert.Equal(0, lost);
    }

    [Fact]
    public async Task Simultaneous_accepts_never_exceed_the_connection_limit()
    {
        const int max = 100;
        var registry = new ConnectionRegistry();
        var accepted = new System.Collections.Concurrent.ConcurrentBag<FakeConnection>();
        using var start = new Barrier(4);

        await Task.WhenAll(Enumerable.Range(0, 4).Select(t => Task.Run(() =>
        {
            start.SignalAndWait();
            for (var i = 0; i < 1_000; i++)
            {
                var connection = new FakeConnection($"c-{t}-{i}", Guid.NewGuid());
                if (registry.TryAdd(connection, max))
                {
                    accepted.Add(connection);
                }
            }
        }, TestContext.Current.CancellationToken)));

        Assert.Equal(max, accepted.Count);
        Assert.Equal(max, registry.Count);
        foreach (var connection in accepted.Take(10))
        {
            registry.Remove(connection);
            registry.Remove(connection);
        }
        Assert.Equal(max - 10, registry.Count);
        Assert.True(registry.TryAdd(new FakeConnection("late", Guid.NewGuid()), max));
    }
}
