using M2M.Messaging.InProcess;
using Microsoft.Extensions.Logging.Abstractions;

namespace M2M.Messaging.Tests;

public class InProcessMessageBusTests
{
    private readonly InProcessMessageBus _bus = new(NullLogger<InProcessMessageBus>.Instance);

    [Fact]
    public async Task Every_subscriber_of_a_subject_receives_the_message()
    {
        var first = new List<string>();
        var second = new List<string>();
        using var a = _bus.Subscribe("events", m => { first.Add(m.Call); return ValueTask.CompletedTask; });
        using var b = _bus.Subscribe("events", m => { second.Add(m.Call); return ValueTask.CompletedTask; });

        await _bus.PublishAsync("events", new BusMessage(Calls.DeviceConnected, "test"), TestContext.Current.CancellationToken);

        Assert.Equal([Calls.DeviceConnected], first);
        Assert.Equal([Calls.DeviceConnected], second);
    }

    [Fact]
    public async Task Subscribers_of_other_subjects_receive_nothing()
    {
        var device = Guid.NewGuid();
        var received = 0;
        using var sub = _bus.Subscribe(Topics.Device(device), _ => { received++; return ValueTask.CompletedTask; });

        await _bus.PublishAsync(Topics.Device(Guid.NewGuid()), new BusMessage(Calls.SendSettings, "test"), TestContext.Current.CancellationToken);
        await _bus.PublishAsync(Topics.Events, new BusMessage(Calls.SendSettings, "test"), TestContext.Current.CancellationToken);

        Assert.Equal(0, received);
    }

    [Fact]
    public async Task Disposed_subscription_stops_receiving_and_frees_its_subject()
    {
        var received = 0;
        var sub = _bus.Subscribe("s", _ => { received++; return ValueTask.CompletedTask; });
        await _bus.PublishAsync("s", new BusMessage("c", "test"), TestContext.Current.CancellationToken);

        sub.Dispose();
        sub.Dispose();
        await _bus.PublishAsync("s", new BusMessage("c", "test"), TestContext.Current.CancellationToken);

        Assert.Equal(1, received);
        Assert.Equal(0, _bus.SubjectCount);
    }

    [Fact]
    public async Task Failing_subscriber_does_not_stop_the_others_or_the_publisher()
    {
        var received = 0;
        using var bad = _bus.Subscribe("s", _ => throw new InvalidOperationException("boom"));
        using var good = _bus.Subscribe("s", _ => { received++; return ValueTask.CompletedTask; });

        await _bus.PublishAsync("s", new BusMessage("c", "test"), TestContext.Current.CancellationToken);

        Assert.Equal(1, received);
    }

    [Fact]
    public async Task Concurrent_subscribe_and_unsubscribe_lose_no_subscription()
    {
        var received = 0;
        var subscriptions = new IDisposable[200];
        await Parallel.ForAsync(0, subscriptions.Length, TestContext.Current.CancellationToken, (i, _) =>
        {
            subscriptions[i] = _bus.Subscribe("s", _ => { Interlocked.Increment(ref received); return ValueTask.CompletedTask; });
            return ValueTask.CompletedTask;
        });
        await Parallel.ForAsync(0, 100, TestContext.Current.CancellationToken, (i, _) =>
        {
            subscriptions[i].Dispose();
            return ValueTask.CompletedTask;
        });

        await _bus.PublishAsync("s", new BusMessage("c", "test"), TestContext.Current.CancellationToken);

        Assert.Equal(100, received);
    }
}
