using System.Diagnostics;
using Microsoft.Extensions.Logging;
using NATS.Client.Core;

namespace M2M.Messaging.Nats;

/// <summary>
/// Events and pushes on core NATS subjects (at most once, like the in-process bus): a subject of
/// the bus is a subject on the server (with the configured prefix). Each subscription is a server
/// subscription, so a node receives only the subjects it asked for (a device's pushes reach the node
/// that holds it, and no other). Converter topics (<c>converter.…</c>) are kept by a JetStream
/// stream for external converters; publishing to them is a plain publish the stream captures.
/// </summary>
public sealed class NatsMessageBus(NatsConnection connection, NatsNames names, ILogger<NatsMessageBus> logger) : IMessageBus
{
    private static readonly NatsRawSerializer<byte[]> Raw = NatsRawSerializer<byte[]>.Default;

    public async ValueTask PublishAsync(string subject, BusMessage message, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(subject);
        ArgumentNullException.ThrowIfNull(message);
        using var activity = NatsTelemetry.Source.StartActivity($"{subject} publish", ActivityKind.Producer);
        activity?.SetTag("messaging.system", "nats");
        activity?.SetTag("messaging.destination.name", subject);
        activity?.SetTag("m2m.bus.call", message.Call);
        var context = Activity.Current?.Context ?? default;
        await connection.PublishAsync(names.Subject(subject), message.ToJsonUtf8(), NatsTelemetry.Headers(context), serializer: Raw, cancellationToken: cancellationToken);
        BusMetricsNats.Published.Add(1);
    }

    public async ValueTask<IAsyncDisposable> SubscribeAsync(string subject, Func<BusMessage, ValueTask> handler, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(subject);
        ArgumentNullException.ThrowIfNull(handler);
        var subscription = await connection.SubscribeCoreAsync(names.Subject(subject), serializer: Raw, cancellationToken: cancellationToken);
        try
        {
            // A ping answered means the server has processed the subscription: whatever is published
            // from now on reaches it (the contract: "in place when the task completes").
            await connection.PingAsync(cancellationToken);
        }
        catch
        {
            await subscription.DisposeAsync();
            throw;
        }
        var loop = Task.Run(() => ReceiveAsync(subject, subscription, handler), CancellationToken.None);
        return new Subscription(subscription, loop);
    }

    private async Task ReceiveAsync(string subject, INatsSub<byte[]> subscription, Func<BusMessage, ValueTask> handler)
    {
        try
        {
            await foreach (var msg in subscription.Msgs.ReadAllAsync())
            {
                BusMessage message;
                try
                {
                    message = BusMessage.Parse(msg.Data ?? []);
                }
                catch (FormatException e)
                {
                    // Anyone with access to the server can publish: a bad message is dropped, never fatal.
                    NatsTelemetry.BadMessages.Add(1);
                    logger.LogWarning("Invalid bus message on {Subject} dropped: {Error}", subject, e.Message);
                    continue;
                }
                using var activity = NatsTelemetry.Source.StartActivity($"{subject} receive", ActivityKind.Consumer, NatsTelemetry.ContextOf(msg.Headers));
                activity?.SetTag("messaging.system", "nats");
                activity?.SetTag("messaging.destination.name", subject);
                activity?.SetTag("m2m.bus.call", message.Call);
                try
                {
                    await handler(message);
                    BusMetricsNats.Delivered.Add(1);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    BusMetricsNats.HandlerErrors.Add(1);
                    logger.LogError(e, "Subscriber of {Subject} failed on {Call}", subject, message.Call);
                }
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            logger.LogDebug(e, "Subscription to {Subject} ended", subject);
        }
    }

    private sealed class Subscription(INatsSub<byte[]> subscription, Task loop) : IAsyncDisposable
    {
        private int _disposed;

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0)
            {
                return;
            }
            try
            {
                await subscription.DisposeAsync();
            }
            finally
            {
                // The loop ends when the subscription's channel completes.
                await loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }
}

/// <summary>The bus counters shared with the in-process bus (same meter and names).</summary>
internal static class BusMetricsNats
{
    private static readonly System.Diagnostics.Metrics.Meter Meter = new(NatsTelemetry.Name);
    public static readonly System.Diagnostics.Metrics.Counter<long> Published = Meter.CreateCounter<long>("m2m.bus.messages.published", description: "Messages published on the bus");
    public static readonly System.Diagnostics.Metrics.Counter<long> Delivered = Meter.CreateCounter<long>("m2m.bus.messages.delivered", description: "Messages handed to a subscriber");
    public static readonly System.Diagnostics.Metrics.Counter<long> HandlerErrors = Meter.CreateCounter<long>("m2m.bus.handler.errors", description: "Subscriber handlers that threw");
}
