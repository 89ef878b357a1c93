using System.Buffers;
using System.Threading.Channels;
using M2M.Storage.TimeSeries;
using Microsoft.Extensions.DependencyInjection;

namespace M2M.Api.Live;

/// <summary>
/// Hands records, once committed, to the live streams that asked for them (<c>/api/events?records=true</c>).
/// </summary>
/// <remarks>
/// <para>The committing thread pays nothing when nobody listens (one volatile read) and, when someone
/// does, one copy of the batch into a pooled array (given back once dispatched: the fleet index
/// listens all the time, so this runs for every commit) and one non-blocking queue write: matching records to
/// subscribers happens on this hub's own dispatch loop. Subscribers that name devices are found by a
/// dictionary lookup per record; the others (a whole domain, an administrator) see every record and
/// filter by domain in their stream.</para>
/// <para>Nothing here grows without bound: the dispatch queue holds <see cref="QueuedBatches"/>
/// batches and each subscriber a bounded channel. When the dispatch loop falls that far behind,
/// every subscriber is dropped (their streams end, the clients reconnect and re-read); a subscriber
/// whose own channel is full is dropped alone. Live records are a view, not a delivery guarantee:
/// the stored data is complete and can be re-read through <c>/api/devices/{id}/data</c>.</para>
/// </remarks>
public sealed class LiveRecordHub : ICommittedRecordsListener, IDisposable
{
    /// <summary>Batches waiting for dispatch before every subscriber is dropped.</summary>
    public const int QueuedBatches = 256;

    private readonly Channel<Batch> _queue = Channel.CreateBounded<Batch>(
        new BoundedChannelOptions(QueuedBatches) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
    private readonly Lock _lock = new();
    private readonly CancellationTokenSource _stop = new();
    private int _disposed;
    private readonly Task _loop;
    private Subscriber[] _wide = [];
    private Dictionary<string, Subscriber[]> _bySeries = new(StringComparer.Ordinal);
    private volatile int _count;
    private long _dropped;

    public LiveRecordHub() => _loop = Task.Run(DispatchAsync);

    /// <summary>Current subscribers.</summary>
    public int Subscribers => _count;

    /// <summary>Subscribers dropped so far because they (or the dispatch loop) fell behind.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Called after <paramref name="records"/> were committed. Never waits.</summary>
    public void Stored(IReadOnlyList<TimeSeriesRecord> records)
    {
        if (_count == 0 || records.Count == 0)
        {
            return;
        }
        // The caller may reuse its list once this returns.
        var copy = ArrayPool<TimeSeriesRecord>.Shared.Rent(records.Count);
        for (var i = 0; i < records.Count; i++)
        {
            copy[i] = records[i];
        }
        if (!_queue.Writer.TryWrite(new Batch(copy, records.Count)))
        {
            ArrayPool<TimeSeriesRecord>.Shared.Return(copy, clearArray: true);
            DropAll();
        }
    }

    /// <summary>
    /// Subscribes to the records of <paramref name="seriesIds"/> (every series when <c>null</c>), of
    /// <paramref name="types"/> only when given. Records go to <paramref name="output"/> with
    /// <c>TryWrite</c>; when that fails the subscription ends and <paramref name="output"/> is
    /// completed with a <see cref="LiveStreamOverflowException"/>. Dispose to unsubscribe.
    /// </summary>
    public IDisposable Subscribe(IReadOnlySet<string>? seriesIds, IReadOnlySet<string>? types, ChannelWriter<LiveItem> output)
    {
        var subscriber = new Subscriber(this, seriesIds, types, output);
        lock (_lock)
        {
            if (seriesIds is null)
            {
                _wide = [.. _wide, subscriber];
            }
            else
            {
                var map = new Dictionary<string, Subscriber[]>(_bySeries, StringComparer.Ordinal);
                foreach (var id in seriesIds)
                {
                    map[id] = map.TryGetValue(id, out var list) ? [.. list, subscriber] : [subscriber];
                }
                _bySeries = map;
            }
            _count++;
        }
        return subscriber;
    }

    private void Unsubscribe(Subscriber subscriber)
    {
        lock (_lock)
        {
            if (subscriber.SeriesIds is null)
            {
                if (Array.IndexOf(_wide, subscriber) < 0)
                {
                    return;
                }
                _wide = [.. _wide.Where(s => s != subscriber)];
            }
            else
            {
                var map = new Dictionary<string, Subscriber[]>(_bySeries, StringComparer.Ordinal);
                var found = false;
                foreach (var id in subscriber.SeriesIds)
                {
                    if (map.TryGetValue(id, out var list) && Array.IndexOf(list, subscriber) >= 0)
                    {
                        found = true;
                        var rest = list.Where(s => s != subscriber).ToArray();
                        if (rest.Length == 0)
                        {
                            map.Remove(id);
                        }
                        else
                        {
                            map[id] = rest;
                        }
                    }
                }
                if (!found)
                {
                    return;
                }
                _bySeries = map;
            }
            _count--;
        }
    }

    private void DropAll()
    {
        Subscriber[] all;
        lock (_lock)
        {
            all = [.. _wide, .. _bySeries.Values.SelectMany(s => s).Distinct()];
        }
        foreach (var s in all)
        {
            s.Overflow();
        }
    }

    private async Task DispatchAsync()
    {
        try
        {
            while (await _queue.Reader.WaitToReadAsync(_stop.Token))
            {
                while (_queue.Reader.TryRead(out var batch))
                {
                    var wide = _wide;
                    var bySeries = _bySeries;
                    foreach (var record in batch.Records.AsSpan(0, batch.Count))
                    {
                        foreach (var s in wide)
                        {
                            s.Offer(record);
                        }
                        if (bySeries.Count > 0 && bySeries.TryGetValue(record.Id, out var subscribers))
                        {
                            foreach (var s in subscribers)
                            {
                                s.Offer(record);
                            }
                        }
                    }
                    // Cleared: a pooled array must not keep records alive.
                    ArrayPool<TimeSeriesRecord>.Shared.Return(batch.Records, clearArray: true);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Stops the dispatch; a second call does nothing (the host disposes the hub once per registration that hands it out).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _stop.Cancel();
        _queue.Writer.TryComplete();
        _loop.Wait(TimeSpan.FromSeconds(5));
        _stop.Dispose();
    }

    /// <summary>A committed batch in a pooled array: its first <see cref="Count"/> items.</summary>
    private readonly record struct Batch(TimeSeriesRecord[] Records, int Count);

    private sealed class Subscriber(LiveRecordHub hub, IReadOnlySet<string>? seriesIds, IReadOnlySet<string>? types, ChannelWriter<LiveItem> output) : IDisposable
    {
        private int _closed;

        public IReadOnlySet<string>? SeriesIds { get; } = seriesIds;

        public void Offer(TimeSeriesRecord record)
        {
            if (Volatile.Read(ref _closed) != 0 || (types is not null && !types.Contains(record.Type)))
            {
                return;
            }
            if (!output.TryWrite(LiveItem.Of(record)))
            {
                Overflow();
            }
        }

        public void Overflow()
        {
            if (Interlocked.Exchange(ref _closed, 1) == 0)
            {
                Interlocked.Increment(ref hub._dropped);
                output.TryComplete(new LiveStreamOverflowException());
                hub.Unsubscribe(this);
            }
        }

        public void Dispose()
        {
            Interlocked.Exchange(ref _closed, 1);
            hub.Unsubscribe(this);
        }
    }
}

/// <summary>An item of a live stream: a bus event or a stored record.</summary>
public readonly record struct LiveItem(M2M.Messaging.BusMessage? Event, TimeSeriesRecord? Record)
{
    public static LiveItem Of(M2M.Messaging.BusMessage message) => new(message, null);

    public static LiveItem Of(TimeSeriesRecord record) => new(null, record);
}

/// <summary>A live stream's client fell too far behind and was dropped.</summary>
public sealed class LiveStreamOverflowException() : Exception("The client fell too far behind the live stream.");

/// <summary>
/// Wraps the time-series store so that records reach the <see cref="LiveRecordHub"/> once
/// committed (after a <c>SaveManyAsync</c> overload returns). Everything else is
/// passed through.
/// </summary>
public sealed class LiveRecordsStore(ITimeSeriesStore inner, LiveRecordHub hub) : ITimeSeriesStore, IPipelinedTimeSeriesStore
{
    /// <summary>The store this one passes everything to (the backend's).</summary>
    public ITimeSeriesStore Inner { get; } = inner;

    public async ValueTask SaveAsync(TimeSeriesRecord record, CancellationToken cancellationToken = default)
    {
        await Inner.SaveAsync(record, cancellationToken);
        hub.Stored([record]);
    }

    public async ValueTask SaveManyAsync(IReadOnlyList<TimeSeriesRecord> records, CancellationToken cancellationToken = default)
    {
        await Inner.SaveManyAsync(records, cancellationToken);
        hub.Stored(records);
    }

    public async ValueTask SaveManyAsync(IReadOnlyList<TimeSeriesRecord> records, IReadOnlyList<Storage.Forwarding.FeedGroup> feed, CancellationToken cancellationToken = default)
    {
        await Inner.SaveManyAsync(records, feed, cancellationToken);
        hub.Stored(records);
    }

    /// <summary>The inner store's prepared commit (when it prepares), reaching the hub once committed.</summary>
    public IPreparedCommit? Prepare(IReadOnlyList<TimeSeriesRecord> records, IReadOnlyList<Storage.Forwarding.FeedGroup>? feed) =>
        Inner is IPipelinedTimeSeriesStore pipelined && pipelined.Prepare(records, feed) is { } prepared
            ? new LiveCommit(prepared, records, hub)
            : null;

    public StoreBackgroundWork ReadBackgroundWork() =>
        Inner is IPipelinedTimeSeriesStore pipelined ? pipelined.ReadBackgroundWork() : StoreBackgroundWork.Unknown;

    private sealed class LiveCommit(IPreparedCommit inner, IReadOnlyList<TimeSeriesRecord> records, LiveRecordHub hub) : IPreparedCommit
    {
        public CommitTimings Timings => inner.Timings;

        public void Commit()
        {
            inner.Commit();
            hub.Stored(records);
        }

        public void Dispose() => inner.Dispose();
    }

    public ValueTask<TimeSeriesPage> QueryAsync(TimeSeriesQuery query, CancellationToken cancellationToken = default) => Inner.QueryAsync(query, cancellationToken);

    public ValueTask<IReadOnlyList<TimeSeriesRecord>> GetLatestAsync(string id, CancellationToken cancellationToken = default) => Inner.GetLatestAsync(id, cancellationToken);

    public ValueTask<IReadOnlyList<TimeSeriesRecord>> GetAsync(string id, string type, DateTimeOffset time, CancellationToken cancellationToken = default) => Inner.GetAsync(id, type, time, cancellationToken);

    public ValueTask<int> DeleteAsync(string id, string type, DateTimeOffset time, CancellationToken cancellationToken = default) => Inner.DeleteAsync(id, type, time, cancellationToken);

    public ValueTask<bool> DeleteRecordAsync(TimeSeriesRecord record, CancellationToken cancellationToken = default) => Inner.DeleteRecordAsync(record, cancellationToken);

    public ValueTask DeleteRangeAsync(string id, string? type, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken = default) => Inner.DeleteRangeAsync(id, type, from, to, cancellationToken);

    public ValueTask<long> ExpireRangeAsync(string id, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken = default) => Inner.ExpireRangeAsync(id, from, to, cancellationToken);

    public ValueTask<IReadOnlyList<DateOnly>> GetMonthsAsync(CancellationToken cancellationToken = default) => Inner.GetMonthsAsync(cancellationToken);

    public ValueTask DropMonthAsync(DateOnly month, CancellationToken cancellationToken = default) => Inner.DropMonthAsync(month, cancellationToken);
}

/// <summary>Registers the hub and wraps the registered <see cref="ITimeSeriesStore"/>.</summary>
internal static class LiveRecordsRegistration
{
    public static void AddLiveRecords(this IServiceCollection services)
    {
        services.AddSingleton<LiveRecordHub>();
        services.AddSingleton<ICommittedRecordsListener>(sp => sp.GetRequiredService<LiveRecordHub>());
        var descriptor = services.LastOrDefault(d => d.ServiceType == typeof(ITimeSeriesStore) && !d.IsKeyedService);
        if (descriptor is null || descriptor.Lifetime != ServiceLifetime.Singleton)
        {
            // No store in this host (or not a singleton one): nothing commits records here.
            return;
        }
        services.Remove(descriptor);
        services.AddSingleton<ITimeSeriesStore>(sp =>
        {
            var inner = descriptor.ImplementationInstance as ITimeSeriesStore
                ?? (descriptor.ImplementationFactory is { } factory
                    ? (ITimeSeriesStore)factory(sp)
                    : (ITimeSeriesStore)ActivatorUtilities.CreateInstance(sp, descriptor.ImplementationType!));
            return new LiveRecordsStore(inner, sp.GetRequiredService<LiveRecordHub>());
        });
    }
}
