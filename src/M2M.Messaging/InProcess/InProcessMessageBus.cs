using System.Collections.Concurrent;
using System.Collections.Immutable;
using Microsoft.Extensions.Logging;

namespace M2M.Messaging.InProcess;

/// <summary>
/// The single-node bus: subjects are dictionary keys, publishing calls the subscribers' handlers
/// in turn on the publisher's thread. Nothing is queued, so nothing can pile up. Prefix
/// subscriptions (<see cref="IPrefixSubscriptions"/>) are called after a subject's own subscribers.
/// </summary>
public sealed class InProcessMessageBus(ILogger<InProcessMessageBus> logger) : IMessageBus, IPrefixSubscriptions
{
    private readonly ConcurrentDictionary<string, ImmutableArray<Subscription>> _subjects = new(StringComparer.Ordinal);
    // Replaced as a whole under _prefixWrites; publishers read the array they find without a lock.
    private PrefixSubscription[] _prefixes = [];
    private readonly Lock _prefixWrites = new();

    public async ValueTask PublishAsync(string subject, BusMessage message, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(subject);
        ArgumentNullException.ThrowIfNull(message);
        BusMetrics.Published.Add(1);
        if (_subjects.TryGetValue(subject, out var subscriptions))
        {
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
                    HandlerFailed(e, subject, message);
                }
            }
        }
        foreach (var prefix in Volatile.Read(ref _prefixes))
        {
            if (!subject.StartsWith(prefix.Prefix, StringComparison.Ordinal))
            {
                continue;
            }
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                await prefix.Handler(subject, message);
                BusMetrics.Delivered.Add(1);
            }
            catch (Exception e)
            {
                HandlerFailed(e, subject, message);
            }
        }
    }

    // One failing subscriber must not stop the others nor the publisher.
    private void HandlerFailed(Exception e, string subject, BusMessage message)
    {
        BusMetrics.HandlerErrors.Add(1);
        logger.LogError(e, "Subscriber of {Subject} failed on {Call}", subject, message.Call);
    }

    public IDisposable SubscribePrefix(string prefix, Func<string, BusMessage, ValueTask> handler)
    {
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        ArgumentNullException.ThrowIfNull(handler);
        var subscription = new PrefixSubscription(this, prefix, handler);
        lock (_prefixWrites)
        {
            Volatile.Write(ref _prefixes, [.. _prefixes, subscription]);
        }
        return subscription;
    }

    /// <summary>Prefix subscriptions in place (diagnostics and tests).</summary>
    public int PrefixCount => Volatile.Read(ref _prefixes).Length;

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

    private sealed class PrefixSubscription(InProcessMessageBus bus, string prefix, Func<string, BusMessage, ValueTask> handler) : IDisposable
    {
        private int _disposed;

        public string Prefix { get; } = prefix;

        public Func<string, BusMessage, ValueTask> Handler { get; } = handler;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                lock (bus._prefixWrites)
                {
                    Volatile.Write(ref bus._prefixes, [.. bus._prefixes.Where(p => !ReferenceEquals(p, this))]);
                }
            }
        }
    }
}
