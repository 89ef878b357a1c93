using System.Collections.Concurrent;
using System.Diagnostics;
using NATS.Client.Core;

namespace M2M.Messaging.Nats.Tests;

/// <summary>Events and pushes over a real NATS server, between nodes with connections of their own.</summary>
public class NatsMessageBusTests
{
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(500);

    [Fact]
    public async Task Events_published_by_two_nodes_reach_a_subscriber_on_a_third()
    {
        var prefix = NatsNode.NewPrefix();
        await using var ingestA = await NatsNode.StartBusAsync(NatsNode.Url, prefix);
        await using var ingestB = await NatsNode.StartBusAsync(NatsNode.Url, prefix);
        await using var api = await NatsNode.StartBusAsync(NatsNode.Url, prefix);
        var received = new ConcurrentQueue<BusMessage>();
        await using var subscription = await api.Bus.SubscribeAsync(Topics.Events, m => { received.Enqueue(m); return ValueTask.CompletedTask; }, TestContext.Current.CancellationToken);

        await ingestA.Bus.PublishAsync(Topics.Events, new BusMessage(Calls.DeviceConnected, "node-a").With("connection_id", "node-a:1"), TestContext.Current.CancellationToken);
        await ingestB.Bus.PublishAsync(Topics.Events, new BusMessage(Calls.DeviceConnected, "node-b").With("connection_id", "node-b:1"), TestContext.Current.CancellationToken);

        await NatsNode.EventuallyAsync(() => Task.FromResult(received.Count == 2), "both events");
        Assert.Equal(["node-a", "node-b"], received.Select(m => m.From).Order());
        Assert.All(received, m => Assert.Equal(Calls.DeviceConnected, m.Call));
        Assert.Equal(["node-a:1", "node-b:1"], received.Select(m => m.GetString("connection_id")).Order());
    }

    [Fact]
    public async Task A_push_on_a_device_subject_reaches_only_the_node_holding_that_device()
    {
        var prefix = NatsNode.NewPrefix();
        await using var nodeA = await NatsNode.StartBusAsync(NatsNode.Url, prefix);
        await using var nodeB = await NatsNode.StartBusAsync(NatsNode.Url, prefix);
        await using var api = await NatsNode.StartBusAsync(NatsNode.Url, prefix);
        var (deviceA, deviceB) = (Guid.NewGuid(), Guid.NewGuid());
        var atA = new ConcurrentQueue<BusMessage>();
        var atB = new ConcurrentQueue<BusMessage>();
        await using var subA = await nodeA.Bus.SubscribeAsync(Topics.Device(deviceA), m => { atA.Enqueue(m); return ValueTask.CompletedTask; }, TestContext.Current.CancellationToken);
        await using var subB = await nodeB.Bus.SubscribeAsync(Topics.Device(deviceB), m => { atB.Enqueue(m); return ValueTask.CompletedTask; }, TestContext.Current.CancellationToken);

        await api.Bus.PublishAsync(Topics.Device(deviceA), new BusMessage(Calls.SendCommands, "api").With("device_id", deviceA.ToString("D")), TestContext.Current.CancellationToken);

        await NatsNode.EventuallyAsync(() => Task.FromResult(!atA.IsEmpty), "the push at node A");
        await Task.Delay(Quiet, TestContext.Current.CancellationToken);
        Assert.Equal(Calls.SendCommands, Assert.Single(atA).Call);
        Assert.Empty(atB);
    }

    [Fact]
    public async Task A_subscription_is_in_place_when_subscribe_returns_and_gone_after_dispose()
    {
        var prefix = NatsNode.NewPrefix();
        await using var node = await NatsNode.StartBusAsync(NatsNode.Url, prefix);
        await using var api = await NatsNode.StartBusAsync(NatsNode.Url, prefix);
        var device = Guid.NewGuid();
        var received = 0;
        var subscription = await node.Bus.SubscribeAsync(Topics.Device(device), _ => { Interlocked.Increment(ref received); return ValueTask.CompletedTask; }, TestContext.Current.CancellationToken);

        // Published at once from another connection: it must not overtake the subscription.
        await api.Bus.PublishAsync(Topics.Device(device), new BusMessage(Calls.SendSettings, "api"), TestContext.Current.CancellationToken);
        await NatsNode.EventuallyAsync(() => Task.FromResult(Volatile.Read(ref received) == 1), "the first push");

        await subscription.DisposeAsync();
        await api.Bus.PublishAsync(Topics.Device(device), new BusMessage(Calls.SendSettings, "api"), TestContext.Current.CancellationToken);
        await Task.Delay(Quiet, TestContext.Current.CancellationToken);
        Assert.Equal(1, Volatile.Read(ref received));
    }

    [Fact]
    public async Task An_invalid_message_on_a_subject_is_dropped_and_the_subscription_keeps_working()
    {
        var prefix = NatsNode.NewPrefix();
        await using var node = await NatsNode.StartBusAsync(NatsNode.Url, prefix);
        var received = new ConcurrentQueue<BusMessage>();
        await using var subscription = await node.Bus.SubscribeAsync(Topics.Events, m => { received.Enqueue(m); return ValueTask.CompletedTask; }, TestContext.Current.CancellationToken);
        await using var raw = new NatsConnection(new NatsOpts { Url = NatsNode.Url });

        await raw.PublishAsync($"{prefix}.{Topics.Events}", "not json"u8.ToArray(), cancellationToken: TestContext.Current.CancellationToken);
        await raw.PublishAsync($"{prefix}.{Topics.Events}", """{"_call":"x"}"""u8.ToArray(), cancellationToken: TestContext.Current.CancellationToken);
        await node.Bus.PublishAsync(Topics.Events, new BusMessage(Calls.NewReceiver, "node"), TestContext.Current.CancellationToken);

        await NatsNode.EventuallyAsync(() => Task.FromResult(!received.IsEmpty), "the valid message");
        await Task.Delay(Quiet, TestContext.Current.CancellationToken);
        Assert.Equal(Calls.NewReceiver, Assert.Single(received).Call);
    }

    [Fact]
    public async Task The_handler_runs_in_the_publishers_trace()
    {
        var prefix = NatsNode.NewPrefix();
        await using var node = await NatsNode.StartBusAsync(NatsNode.Url, prefix);
        await using var api = await NatsNode.StartBusAsync(NatsNode.Url, prefix);
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name is "M2M.Messaging" or "test",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(listener);
        using var source = new ActivitySource("test");
        var handlerTrace = new TaskCompletionSource<ActivityTraceId>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var subscription = await node.Bus.SubscribeAsync(Topics.Events, _ =>
        {
            handlerTrace.TrySetResult(Activity.Current?.TraceId ?? default);
            return ValueTask.CompletedTask;
        }, TestContext.Current.CancellationToken);

        ActivityTraceId sent;
        using (var activity = source.StartActivity("request"))
        {
            sent = activity!.TraceId;
            await api.Bus.PublishAsync(Topics.Events, new BusMessage(Calls.NewReceiver, "api"), TestContext.Current.CancellationToken);
        }

        Assert.Equal(sent, await handlerTrace.Task.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken));
    }
}
