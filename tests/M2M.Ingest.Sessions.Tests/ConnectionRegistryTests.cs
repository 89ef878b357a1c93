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

        public void RequestClose(string reason)
        {
        }
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
