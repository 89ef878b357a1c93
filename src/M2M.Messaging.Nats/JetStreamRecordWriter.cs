using System.Buffers;
using System.Diagnostics;
using M2M.Storage;
using M2M.Storage.TimeSeries;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NATS.Client.Core;
using NATS.Client.JetStream;

namespace M2M.Messaging.Nats;

/// <summary>
/// The ingest side of the <c>storage</c> stream, as an <see cref="IRecordWriter"/>: a record is
/// durable when JetStream acknowledged the message that carries it, which is the delivery barrier of
/// the distributed topology.
/// </summary>
/// <remarks>
/// <para>Producers put records in a bounded ring (as the batch writer does: one short lock per
/// record, tickets in queue order). One loop takes whatever is queued, up to
/// <see cref="NatsBusOptions.PublishBatchRecords"/> records or <see cref="NatsBusOptions.PublishBatchBytes"/>
/// bytes, as one message, and publishes it without waiting for the previous acknowledgement: up to
/// <see cref="NatsBusOptions.PublishMaxInFlight"/> messages are in flight. Acknowledgements may
/// arrive in any order; the durable ticket advances over the longest acknowledged prefix, so a ticket
/// reported durable covers every record accepted before it.</para>
/// <para>A failed publish (the server is down or the stream is full) is retried with the same
/// message id (JetStream drops a duplicate within its window; a late duplicate is harmless, writes
/// being idempotent) until it succeeds: meanwhile the ring fills, producers wait (back-pressure on
/// the devices) and barriers wait, then time out, and devices keep their data.</para>
/// </remarks>
public sealed class JetStreamRecordWriter : IRecordWriter, IHostedService, IAsyncDisposable
{
    private const int MaxLinks = 16;

    private readonly NatsInfrastructure _nats;
    private readonly ILogger _logger;
    private readonly int _batchRecords;
    private readonly int _batchBytes;
    private readonly SemaphoreSlim _slots;
    private readonly string _from;
    private readonly string _idPrefix;
    private readonly TimeSeriesRecord[] _ring;
    private readonly ActivityContext[] _contexts;
    private readonly Lock _acceptLock = new();
    private readonly Lock _waitLock = new();
    private readonly PriorityQueue<TaskCompletionSource, long> _waiters = new();
    private readonly Queue<InFlight> _inFlight = new();
    private readonly CancellationTokenSource _abort = new();
    private long _lastTicket;
    private long _durableTicket;
    private long _batchSequence;
    private int _head;
    private int _count;
    private bool _completed;
    private TaskCompletionSource? _roomSignal;
    private TaskCompletionSource? _recordsSignal;
    private Task? _loop;
    private int _failing;

    public JetStreamRecordWriter(NatsInfrastructure nats, IOptions<NatsBusOptions> options, ILogger<JetStreamRecordWriter> logger)
    {
        var o = options.Value;
        ArgumentOutOfRangeException.ThrowIfLessThan(o.PublishQueueCapacity, 1, nameof(o.PublishQueueCapacity));
        ArgumentOutOfRangeException.ThrowIfLessThan(o.PublishBatchRecords, 1, nameof(o.PublishBatchRecords));
        ArgumentOutOfRangeException.ThrowIfLessThan(o.PublishMaxInFlight, 1, nameof(o.PublishMaxInFlight));
        _nats = nats;
        _logger = logger;
        _batchRecords = o.PublishBatchRecords;
        _batchBytes = Math.Max(4096, o.PublishBatchBytes);
        _slots = new SemaphoreSlim(o.PublishMaxInFlight, o.PublishMaxInFlight);
        _ring = new TimeSeriesRecord[o.PublishQueueCapacity];
        _contexts = new ActivityContext[o.PublishQueueCapacity];
        _from = $"{Environment.MachineName.ToLowerInvariant()}-{Environment.ProcessId}";
        // Message ids unique across nodes and restarts: JetStream deduplicates a retried publish by it.
        _idPrefix = $"{_from}-{Guid.NewGuid():N}-";
    }

    /// <inheritdoc />
    public long DurableTicket => Volatile.Read(ref _durableTicket);

    /// <summary>Records accepted and not yet handed to JetStream.</summary>
    public int QueueLength => Volatile.Read(ref _count);

    /// <summary>Whether the last publish failed (the server is unreachable or refuses): reported by the health check.</summary>
    public bool IsFailing => Volatile.Read(ref _failing) != 0;

    public void Start()
    {
        lock (_acceptLock)
        {
            _loop ??= Task.Run(RunAsync);
        }
    }

    /// <inheritdoc />
    public ValueTask<long> WriteAsync(TimeSeriesRecord record, CancellationToken cancellationToken = default)
    {
        Task room;
        var context = Activity.Current?.Context ?? default;
        try
        {
            TimeSeriesLimits.ValidateRecord(record);
            if (!StorageBatchCodec.IsJson(record.Data))
            {
                throw new StorageValidationException("A record's data must be one JSON value.", nameof(record));
            }
            // A message the server would refuse would be retried for ever and hold every barrier behind it.
            if (LargestSize(record) > MaxMessageBytes && ExactSize(record) > MaxMessageBytes)
            {
                throw new StorageValidationException($"The record is larger than the NATS server's largest message ({MaxMessageBytes} bytes).", nameof(record));
            }
            if (TryAccept(record, context, out var ticket, out room))
            {
                return new ValueTask<long>(ticket);
            }
        }
        catch (Exception e)
        {
            return ValueTask.FromException<long>(e);
        }
        return WaitAndWriteAsync(record, context, room, cancellationToken);
    }

    private async ValueTask<long> WaitAndWriteAsync(TimeSeriesRecord record, ActivityContext context, Task room, CancellationToken cancellationToken)
    {
        while (true)
        {
            await room.WaitAsync(cancellationToken).ConfigureAwait(false);
            if (TryAccept(record, context, out var ticket, out room))
            {
                return ticket;
            }
        }
    }

    private bool TryAccept(in TimeSeriesRecord record, ActivityContext context, out long ticket, out Task room)
    {
        TaskCompletionSource? wake;
        lock (_acceptLock)
        {
            if (_completed)
            {
                throw new InvalidOperationException("The storage publisher is stopped; it accepts no more records.");
            }
            if (_count == _ring.Length)
            {
                _roomSignal ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                room = _roomSignal.Task;
                ticket = 0;
                return false;
            }
            var tail = _head + _count;
            if (tail >= _ring.Length)
            {
                tail -= _ring.Length;
            }
            _ring[tail] = record;
            _contexts[tail] = context;
            Volatile.Write(ref _count, _count + 1);
            ticket = _lastTicket + 1;
            Volatile.Write(ref _lastTicket, ticket);
            wake = _recordsSignal;
            _recordsSignal = null;
        }
        wake?.TrySetResult();
        room = Task.CompletedTask;
        return true;
    }

    /// <inheritdoc />
    public ValueTask WaitDurableAsync(long ticket, CancellationToken cancellationToken = default)
    {
        if (ticket <= Volatile.Read(ref _durableTicket))
        {
            return ValueTask.CompletedTask;
        }
        if (ticket > Volatile.Read(ref _lastTicket))
        {
            throw new ArgumentOutOfRangeException(nameof(ticket), ticket, "This ticket was never handed out.");
        }
        TaskCompletionSource waiter;
        lock (_waitLock)
        {
            if (ticket <= _durableTicket)
            {
                return ValueTask.CompletedTask;
            }
            waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Enqueue(waiter, ticket);
        }
        return new ValueTask(cancellationToken.CanBeCanceled ? waiter.Task.WaitAsync(cancellationToken) : waiter.Task);
    }

    Task IHostedService.StartAsync(CancellationToken cancellationToken)
    {
        Start();
        return Task.CompletedTask;
    }

    /// <summary>
    /// Stops accepting, publishes what is queued and waits for the acknowledgements, until
    /// <paramref name="cancellationToken"/> gives up: what is then unacknowledged was never reported
    /// durable, and its devices send it again.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        Task? loop;
        TaskCompletionSource? records, room;
        lock (_acceptLock)
        {
            _completed = true;
            loop = _loop;
            (records, _recordsSignal, room, _roomSignal) = (_recordsSignal, null, _roomSignal, null);
        }
        records?.TrySetResult();
        room?.TrySetResult();
        await using var giveUp = cancellationToken.Register(static s => ((CancellationTokenSource)s!).Cancel(), _abort);
        if (loop is not null)
        {
            await loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        FailWaiters();
    }

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await StopAsync(timeout.Token).ConfigureAwait(false);
        _abort.Dispose();
    }

    private async Task RunAsync()
    {
        var buffer = new ArrayBufferWriter<byte>(_batchBytes + 4096);
        var links = new List<ActivityLink>(MaxLinks);
        var batch = new List<TimeSeriesRecord>(_batchRecords);
        var contexts = new List<ActivityContext>(_batchRecords);
        var publishes = new List<Task>();
        try
        {
            while (true)
            {
                Task? records = null;
                TaskCompletionSource? room = null;
                long first = 0, last = 0;
                ActivityContext parent = default;
                var unixSeconds = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
                lock (_acceptLock)
                {
                    if (_count == 0)
                    {
                        if (_completed)
                        {
                            break;
                        }
                        _recordsSignal ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                        records = _recordsSignal.Task;
                    }
                    else
                    {
                        // Only copied under the lock (producers wait on it); encoded outside.
                        first = _lastTicket - _count + 1;
                        var taken = 0;
                        var bytes = 0;
                        while (taken < _count && taken < _batchRecords)
                        {
                            var index = _head + taken;
                            if (index >= _ring.Length)
                            {
                                index -= _ring.Length;
                            }
                            var size = EstimatedSize(_ring[index]);
                            if (taken > 0 && bytes + size > _batchBytes)
                            {
                                break;
                            }
                            batch.Add(_ring[index]);
                            contexts.Add(_contexts[index]);
                            bytes += size;
                            _ring[index] = default;
                            _contexts[index] = default;
                            taken++;
                        }
                        _head = (_head + taken) % _ring.Length;
                        Volatile.Write(ref _count, _count - taken);
                        last = first + taken - 1;
                        room = _roomSignal;
                        _roomSignal = null;
                    }
                }
                if (records is not null)
                {
                    await records.ConfigureAwait(false);
                    continue;
                }
                room?.TrySetResult();

                buffer.ResetWrittenCount();
                links.Clear();
                for (var i = 0; i < batch.Count; i++)
                {
                    StorageBatchCodec.Write(buffer, _from, unixSeconds, batch[i]);
                    var context = contexts[i];
                    if (context == default)
                    {
                        continue;
                    }
                    if (parent == default)
                    {
                        parent = context;
                    }
                    else if (links.Count < MaxLinks && context != parent && !links.Exists(l => l.Context == context))
                    {
                        links.Add(new ActivityLink(context));
                    }
                }
                batch.Clear();
                contexts.Clear();
                var payload = buffer.WrittenSpan.ToArray();
                await _slots.WaitAsync(_abort.Token).ConfigureAwait(false);
                var flight = new InFlight(last);
                lock (_waitLock)
                {
                    _inFlight.Enqueue(flight);
                }
                var sequence = ++_batchSequence;
                publishes.RemoveAll(static t => t.IsCompleted);
                publishes.Add(PublishAsync(flight, payload, (int)(last - first + 1), sequence, parent, links.Count == 0 ? null : [.. links]));
            }
            await Task.WhenAll(publishes).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_abort.IsCancellationRequested)
        {
            // Stopping gave up waiting for the server.
        }
    }

    private async Task PublishAsync(InFlight flight, byte[] payload, int count, long sequence, ActivityContext parent, ActivityLink[]? links)
    {
        try
        {
            using var activity = NatsTelemetry.Source.StartActivity($"{Topics.Storage} publish", ActivityKind.Producer, parent, links: links);
            activity?.SetTag("messaging.system", "nats");
            activity?.SetTag("messaging.destination.name", _nats.Names.StorageSubject);
            activity?.SetTag("messaging.batch.message_count", count);
            var headers = NatsTelemetry.Headers(activity?.Context ?? parent);
            var options = new NatsJSPubOpts { MsgId = _idPrefix + sequence.ToString(System.Globalization.CultureInfo.InvariantCulture) };
            var started = Stopwatch.GetTimestamp();
            for (var attempt = 0; ; attempt++)
            {
                try
                {
                    await _nats.EnsureStreamsAsync(_abort.Token).ConfigureAwait(false);
                    var ack = await _nats.JetStream.PublishAsync(_nats.Names.StorageSubject, payload, NatsRawSerializer<byte[]>.Default, options, headers, _abort.Token).ConfigureAwait(false);
                    ack.EnsureSuccess();
                    activity?.SetTag("messaging.nats.stream.sequence", ack.Seq);
                    break;
                }
                catch (Exception e) when (!_abort.IsCancellationRequested && e is not OutOfMemoryException)
                {
                    NatsTelemetry.StoragePublishErrors.Add(1);
                    // The stream may have been deleted or lost (a new server): created again on the next try.
                    _nats.InvalidateStreams();
                    if (Interlocked.Exchange(ref _failing, 1) == 0 || attempt % 50 == 0)
                    {
                        _logger.LogWarning(e, "Publishing {Count} records to JetStream failed (attempt {Attempt}); retrying. Devices wait for their barrier meanwhile.", count, attempt + 1);
                    }
                    await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(2000, 50 << Math.Min(attempt, 6))), _abort.Token).ConfigureAwait(false);
                }
            }
            if (Interlocked.Exchange(ref _failing, 0) != 0)
            {
                _logger.LogInformation("Publishing to JetStream works again");
            }
            NatsTelemetry.StorageAckLatency.Record(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            NatsTelemetry.StoragePublished.Add(1);
            Acknowledged(flight);
        }
        catch (OperationCanceledException) when (_abort.IsCancellationRequested)
        {
            // Given up at shutdown: never reported durable.
        }
        finally
        {
            _slots.Release();
        }
    }

    private void Acknowledged(InFlight flight)
    {
        lock (_waitLock)
        {
            flight.Done = true;
            var durable = _durableTicket;
            while (_inFlight.TryPeek(out var head) && head.Done)
            {
                durable = _inFlight.Dequeue().LastTicket;
            }
            if (durable == _durableTicket)
            {
                return;
            }
            Volatile.Write(ref _durableTicket, durable);
            while (_waiters.TryPeek(out var waiter, out var ticket) && ticket <= durable)
            {
                _waiters.Dequeue();
                waiter.TrySetResult();
            }
        }
    }

    private void FailWaiters()
    {
        lock (_waitLock)
        {
            while (_waiters.TryDequeue(out var waiter, out _))
            {
                waiter.TrySetException(new InvalidOperationException("The storage publisher stopped before JetStream acknowledged these records; they were not stored and must be sent again."));
            }
        }
    }

    /// <summary>The largest message the server takes (its <c>max_payload</c>), less room for headers.</summary>
    private long MaxMessageBytes => (_nats.Connection.ServerInfo?.MaxPayload is > 0 and var max ? max : 1024 * 1024) - 4096;

    /// <summary>About the bytes of a record's line (the batch limit need not be exact).</summary>
    private static int EstimatedSize(in TimeSeriesRecord record) => 160 + record.Id.Length + record.Type.Length + record.Data.Length;

    /// <summary>The bytes of a record's line, but for escapes in its names.</summary>
    private static long ExactSize(in TimeSeriesRecord record) =>
        160L + (6L * (record.Id.Length + record.Type.Length)) + System.Text.Encoding.UTF8.GetByteCount(record.Data);

    /// <summary>The most bytes a record's line can take (UTF-8, escaped names).</summary>
    private static long LargestSize(in TimeSeriesRecord record) => 160 + (6L * (record.Id.Length + record.Type.Length)) + (3L * record.Data.Length);

    private sealed class InFlight(long lastTicket)
    {
        public long LastTicket { get; } = lastTicket;

        public bool Done { get; set; }
    }
}
