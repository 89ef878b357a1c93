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
}
