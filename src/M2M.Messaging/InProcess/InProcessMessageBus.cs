using System.Collections.Concurrent;
using System.Collections.Immutable;
using Microsoft.Extensions.Logging;

namespace M2M.Messaging.InProcess;

/// <summary>
/// The single-node bus: subjects are dictionary keys, publishing calls the subscribers' handlers
/// in turn on the publisher's thread. Nothing is queued, so nothing can pile up.
/// </summary>
public sealed class InProcessMessageBus(ILogger<InProcessMessageBus> logger) : IMessageBus
{
    private readonly ConcurrentDictionary<string, ImmutableArray<Subscription>> _subjects = new(StringComparer.Ordinal);

    public async ValueTask PublishAsync(string subject, BusMessage message, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(subject);
        ArgumentNullException.ThrowIfNull(message);
        BusMetrics.Published.Add(1);
        if (!_subjects.TryGetValue(subject, out var subscriptions))
        {
            return;
        }
        foreach (var subscription in subscriptions)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                await subscription.Handler(message);
                BusMetrics.Delivered.Add(1);
            }
            catch (Exception e)
            {
                // One failing subscriber must not stop the others nor the publisher.
                BusMetrics.HandlerErrors.Add(1);
                logger.LogError(e, "Subscriber of {Subject} failed on {Call}", subject, message.Call);
            }
        }
    }

    public ValueTask<IAsyncDisposable> SubscribeAsync(string subject, Func<BusMessage, ValueTask> handler, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(subject);
        ArgumentNullException.ThrowIfNull(handler);
        cancellationToken.ThrowIfCancellationRequested();
        var subscription = new Subscription(this, subject, handler);
        _subjects.AddOrUpdate(subject, static (_, s) => [s], static (_, list, s) => list.Add(s), subscription);
        return ValueTask.FromResult<IAsyncDisposable>(subscription);
    }

    /// <summary>Subjects with at least one subscriber (diagnostics and tests).</summary>
    public int SubjectCount => _subjects.Count;

    private void Remove(Subscription subscription)
    {
        while (_subjects.TryGetValue(subscription.Subject, out var list))
        {
            var updated = list.Remove(subscription);
            if (updated.IsEmpty)
            {
                if (_subjects.TryRemove(new KeyValuePair<string, ImmutableArray<Subscription>>(subscription.Subject, list)))
                {
                    return;
                }
            }
            else if (_subjects.TryUpdate(subscription.Subject, updated, list))
            {
                return;
            }
        }
    }

    private sealed class Subscription(InProcessMessageBus bus, string subject, Func<BusMessage, ValueTask> handler) : IAsyncDisposable
    {
        private int _disposed;

        public string Subject { get; } = subject;

        public Func<BusMessage, ValueTask> Handler { get; } = handler;

        public ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                bus.Remove(this);
            }
            return ValueTask.CompletedTask;
        }
    }
}
