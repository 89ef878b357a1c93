using System.Threading.Channels;
using M2M.Messaging;
using M2M.Storage.Forwarding;
using M2M.Storage.TimeSeries;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace M2M.Forwarding;

/// <summary>
/// Puts the bus events of devices (<c>setting_acknowledged</c>, <c>command_acknowledged</c>,
/// <c>new_data_type</c>, …) into the forwarding feed for domains with an endpoint taking events.
/// Best effort: an event waits in a bounded queue (<see cref="ForwardingOptions.EventQueueCapacity"/>;
/// past it, it is dropped and counted) and is lost if the process dies before the queue is written;
/// once in the feed it is as durable as a record. The lifecycle events are not taken here: they are
/// stored as <c>_server</c> records and forwarded with the records, atomically.
/// </summary>
public sealed class EventCapture(
    IMessageBus bus,
    IForwardingFeed feed,
    WebhookDirectory webhooks,
    DeviceDirectory devices,
    ForwardingMetrics metrics,
    IOptions<ForwardingOptions> options,
    ILogger<EventCapture> logger) : BackgroundService
{
    private const int MaxEventsPerAppend = 1000;

    private static readonly HashSet<string> Lifecycle = [Calls.DeviceConnected, Calls.DeviceIdentified, Calls.DeviceDisconnected];

    private readonly Channel<(Guid Domain, TimeSeriesRecord Item)> _queue = Channel.CreateBounded<(Guid, TimeSeriesRecord)>(
        new BoundedChannelOptions(Math.Max(1, options.Value.EventQueueCapacity)) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var subscription = bus.Subscribe(Topics.Events, OnEventAsync);
        var builders = new Dictionary<Guid, FeedCodec.Builder>();
        var reader = _queue.Reader;
        try
        {
            while (await reader.WaitToReadAsync(stoppingToken).ConfigureAwait(false))
            {
                var count = 0;
                while (count < MaxEventsPerAppend && reader.TryRead(out var entry))
                {
                    if (!builders.TryGetValue(entry.Domain, out var builder))
                    {
                        builders[entry.Domain] = builder = new FeedCodec.Builder();
                    }
                    builder.Add(FeedItemKind.Event, entry.Item);
                    count++;
                }
                var groups = builders.Where(b => b.Value.Count > 0).Select(b => b.Value.ToGroup(b.Key)).ToList();
                builders.Clear();
                try
                {
                    await feed.AppendAsync(groups, CancellationToken.None).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    logger.LogError(e, "Could not queue {Count} events for forwarding; they are lost", count);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async ValueTask OnEventAsync(BusMessage message)
    {
        // Handlers run on the publisher's thread: a lookup (cached) and a non-blocking enqueue.
        if (Lifecycle.Contains(message.Call) || message.GetString("device_id") is not { } text || !Guid.TryParse(text, out var deviceId))
        {
            return;
        }
        var snapshot = webhooks.Current;
        if (snapshot.EventDomains.Count == 0)
        {
            return;
        }
        var series = DeviceDirectory.SeriesId(deviceId);
        var device = await devices.GetAsync(series).ConfigureAwait(false);
        if (device.Domain is not { } domain || !snapshot.EventDomains.Contains(domain))
        {
            return;
        }
        var fields = message.Fields.DeepClone().AsObject();
        var item = new TimeSeriesRecord(series, message.Call, DateTimeOffset.FromUnixTimeSeconds(message.Time), fields.ToJsonString());
        if (!_queue.Writer.TryWrite((domain, item)))
        {
            metrics.EventsDropped.Add(1);
        }
    }
}
