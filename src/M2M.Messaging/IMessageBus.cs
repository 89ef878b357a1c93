namespace M2M.Messaging;

/// <summary>
/// Publish/subscribe on named subjects for events and pushes. Delivery is at most once and
/// best-effort (a subscriber that is gone misses the message); durable data goes through
/// <see cref="IRecordBus"/> instead.
/// </summary>
public interface IMessageBus
{
    /// <summary>Publishes <paramref name="message"/> to every current subscriber of <paramref name="subject"/>.</summary>
    ValueTask PublishAsync(string subject, BusMessage message, CancellationToken cancellationToken = default);

    /// <summary>
    /// Calls <paramref name="handler"/> for each message on <paramref name="subject"/> until the
    /// returned handle is disposed. Handlers must be quick (queue work, do not wait on I/O): they may
    /// run on the publisher's thread.
    /// </summary>
    IDisposable Subscribe(string subject, Func<BusMessage, ValueTask> handler);
}
