namespace M2M.Messaging;

/// <summary>
/// Publish/subscribe on named subjects for events and pushes. Delivery is at most once and
/// best-effort (a subscriber that is gone misses the message); durable data goes through
/// <see cref="IRecordBus"/> instead.
/// </summary>
/// <remarks>
/// A publish carries the caller's trace context (W3C <c>traceparent</c>): handlers run under an
/// activity whose parent is the publisher's, in process and across a broker alike.
/// </remarks>
public interface IMessageBus
{
    /// <summary>Publishes <paramref name="message"/> to every current subscriber of <paramref name="subject"/>.</summary>
    ValueTask PublishAsync(string subject, BusMessage message, CancellationToken cancellationToken = default);

    /// <summary>
    /// Calls <paramref name="handler"/> for each message on <paramref name="subject"/> until the
    /// returned handle is disposed. The subscription is in place when the returned task completes:
    /// a message published after that reaches the handler. Handlers must be quick (queue work, do not
    /// wait on I/O): they may run on the publisher's thread or on the bus's receive loop.
    /// </summary>
    ValueTask<IAsyncDisposable> SubscribeAsync(string subject, Func<BusMessage, ValueTask> handler, CancellationToken cancellationToken = default);

    /// <summary>
    /// <see cref="SubscribeAsync"/> for callers that cannot await: waits for the subscription (at
    /// once on the in-process bus, a round trip on a broker's).
    /// </summary>
    IDisposable Subscribe(string subject, Func<BusMessage, ValueTask> handler) => BusExtensions.Subscribe(this, subject, handler);
}
