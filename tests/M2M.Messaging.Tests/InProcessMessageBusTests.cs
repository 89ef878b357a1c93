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

    [Fact]
    public async Task A_prefix_subscriber_receives_every_subject_under_its_prefix_with_the_subject()
    {
        var device = Guid.NewGuid();
        var received = new List<(string Subject, string Call)>();
        using var prefix = _bus.SubscribePrefix(Topics.DevicePrefix, (subject, m) => { received.Add((subject, m.Call)); return ValueTask.CompletedTask; });

        await _bus.PublishAsync(Topics.Device(device), new BusMessage(Calls.SendSettings, "test"), TestContext.Current.CancellationToken);
        await _bus.PublishAsync(Topics.Connection("node:1"), new BusMessage(Calls.Disconnect, "test"), TestContext.Current.CancellationToken);
        await _bus.PublishAsync(Topics.Events, new BusMessage(Calls.DeviceConnected, "test"), TestContext.Current.CancellationToken);

        Assert.Equal([(Topics.Device(device), Calls.SendSettings)], received);
        Assert.Equal(0, _bus.SubjectCount);
    }

    [Fact]
    public async Task A_subject_reaches_its_own_subscribers_and_the_prefix_subscriber()
    {
        var calls = new List<string>();
        using var exact = _bus.Subscribe(Topics.Connection("node:1"), _ => { calls.Add("exact"); return ValueTask.CompletedTask; });
        using var prefix = _bus.SubscribePrefix(Topics.ConnectionPrefix, (_, _) => { calls.Add("prefix"); return ValueTask.CompletedTask; });

        await _bus.PublishAsync(Topics.Connection("node:1"), new BusMessage(Calls.Disconnect, "test"), TestContext.Current.CancellationToken);

        Assert.Equal(["exact", "prefix"], calls);
    }

    [Fact]
    public async Task A_disposed_prefix_subscription_stops_receiving_and_a_failing_one_does_not_stop_the_publisher()
    {
        var received = 0;
        var prefix = _bus.SubscribePrefix("a.", (_, _) => { received++; return ValueTask.CompletedTask; });
        using var bad = _bus.SubscribePrefix("a.", (_, _) => throw new InvalidOperationException("boom"));
        await _bus.PublishAsync("a.b", new BusMessage("c", "test"), TestContext.Current.CancellationToken);

        prefix.Dispose();
        prefix.Dispose();
        await _bus.PublishAsync("a.b", new BusMessage("c", "test"), TestContext.Current.CancellationToken);

        Assert.Equal(1, received);
        Assert.Equal(1, _bus.PrefixCount);
    }

    [Fact]
    public void A_device_subject_parses_back_to_its_device_and_other_subjects_do_not()
    {
        var device = Guid.NewGuid();

        Assert.True(Topics.TryParseDevice(Topics.Device(device), out var parsed));
        Assert.Equal(device, parsed);
        Assert.False(Topics.TryParseDevice(Topics.Connection("node:1"), out _));
        Assert.False(Topics.TryParseDevice(Topics.DevicePrefix + "not-a-guid", out _));
        Assert.False(Topics.TryParseDevice(Topics.Events, out _));
    }
}
