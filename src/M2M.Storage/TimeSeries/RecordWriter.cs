using System.Diagnostics;
using System.Diagnostics.Metrics;
using M2M.Storage.Forwarding;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace M2M.Storage.TimeSeries;

/// <summary>
/// The batch writer (group commit) over any <see cref="ITimeSeriesStore"/>: producers put records in
/// a bounded queue; one loop takes whatever is queued (up to <see cref="RecordWriterOptions.MaxBatchSize"/>)
/// and stores it with one <see cref="ITimeSeriesStore.SaveManyAsync(IReadOnlyList{TimeSeriesRecord}, CancellationToken)"/> — one atomic, durable commit —
/// then completes the waiters of every ticket up to the last record of that batch.
/// </summary>
/// <remarks>
/// <para>There is no artificial delay: when idle, the first record is committed at once; under load,
/// records pile up while a commit is in flight and the next batch takes them all.</para>
/// <para>Pipelined (<see cref="RecordWriterOptions.Pipeline"/>, on a store that is an
/// <see cref="IPipelinedTimeSeriesStore"/>): the loop takes and prepares batch <c>n + 1</c> (keys, values,
/// sorting) while batch <c>n</c> is written and synced on a dedicated commit thread; commits stay one at a
/// time and in ticket order, and a batch's waiters are completed only after its own commit, so a durable
/// ticket still covers every record accepted before it. At most two batches are out of the queue then.</para>
/// <para>Tickets are handed out under the same lock that enqueues, so queue order, ticket order and
/// commit order are one order, and a durable ticket covers every record accepted before it.</para>
/// <para>Waiters: one <see cref="TaskCompletionSource"/> per <see cref="WaitDurableAsync"/> call that
/// has to wait (none per record), kept in a min-heap by ticket and completed after each commit.</para>
/// <para>The queue is a ring of records under the accept lock (tickets are consecutive, so the ring
/// holds no ticket): a producer pays one short lock and no allocation per record; the loop takes a
/// whole batch in one lock; producers waiting for room share one signal, released once per batch taken
/// (not once per record, which on a full queue made producer and loop ping-pong per record).</para>
/// <para>A failed commit is retried, the same batch, after a growing delay
/// (<see cref="RecordWriterOptions.RetryInitialDelay"/> doubling up to
/// <see cref="RecordWriterOptions.RetryMaxDelay"/>), until it succeeds: a full disk or an I/O error
/// stops the ingest for as long as it lasts, not for good. RocksDB resumes by itself once the disk
/// has room again. Meanwhile durability is never signalled past <see cref="DurableTicket"/>, waiters
/// keep waiting, new records fill the queue and then make producers wait (back-pressure), and
/// <see cref="CommitError"/> tells the health check.</para>
/// <para>Only a stop gives up: when the stop's token is cancelled (the host's shutdown timeout)
/// while commits fail, every waiter not yet durable fails with a
/// <see cref="RecordWriterFaultedException"/> and the queued records are dropped unacknowledged.
/// Producers learn that nothing past <see cref="DurableTicket"/> was stored and re-send it (writes
/// are idempotent), exactly as after a crash.</para>
/// <para>Without a host, call <see cref="Start"/> and dispose to drain; in a host it is a hosted
/// service whose stop drains the queue (everything accepted is committed).</para>
/// </remarks>
public sealed class RecordWriter : IRecordWriter, IHostedService, IAsyncDisposable
{
    private readonly ITimeSeriesStore _store;
    private readonly IFeedRouter? _feedRouter;
    private readonly ILogger _logger;
    private readonly int _maxBatchSize;
    private readonly TimeSeriesRecord[] _ring;
    // When each queued record was accepted (Stopwatch ticks), parallel to _ring: the queue wait of a batch.
    private readonly long[] _acceptedAt;
    private readonly bool _pipeline;
    private readonly string? _traceFile;
    // Opened by the commit loop when it starts (CommitTraceFile), closed when it ends.
    private CommitTrace? _trace;
    private readonly Lock _acceptLock = new();
    private readonly Lock _waitLock = new();
    private readonly PriorityQueue<TaskCompletionSource, long> _waiters = new();
    private readonly Meter? _ownedMeter;
    private readonly Counter<long> _recordsWritten;
    private readonly Histogram<int> _batchSize;
    private readonly Histogram<double> _commitDuration;
    private readonly Histogram<double> _queueWait;
    private readonly Histogram<double> _prepareDuration;
    private readonly Histogram<double> _writeDuration;
    private readonly Counter<long> _commitFailures;
    private readonly TimeSpan _retryInitialDelay;
    private readonly TimeSpan _retryMaxDelay;
    // Cancelled when a stop gives up on a failing commit.
    private readonly CancellationTokenSource _abandon = new();
    private long _lastTicket;
    private long _durableTicket;
    // Ring state, under _acceptLock: the queued records are _ring[_head .. _head + _count) (wrapping);
    // their tickets are _lastTicket - _count + 1 .. _lastTicket.
    private int _head;
    private int _count;
    private bool _completed;
    private TaskCompletionSource? _roomSignal;
    private TaskCompletionSource? _recordsSignal;
    private Exception? _fault;
    private Task? _loop;
    private Exception? _commitError;
    private DateTimeOffset? _failingSince;
    private int _failedAttempts;

    /// <summary>
    /// A writer over <paramref name="store"/>. When <paramref name="feedRouter"/> is set, it is asked
    /// before each commit which records also enter the forwarding feed; those entries are committed
    /// with the batch, atomically (<see cref="IForwardingFeed"/>).
    /// </summary>
    public RecordWriter(ITimeSeriesStore store, RecordWriterOptions? options = null, IMeterFactory? meterFactory = null, ILogger<RecordWriter>? logger = null, IFeedRouter? feedRouter = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        options ??= new RecordWriterOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(options.QueueCapacity, 1, nameof(options.QueueCapacity));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxBatchSize, 1, nameof(options.MaxBatchSize));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.RetryInitialDelay, TimeSpan.Zero, nameof(options.RetryInitialDelay));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.RetryMaxDelay, options.RetryInitialDelay, nameof(options.RetryMaxDelay));
        _store = store;
        _retryInitialDelay = options.RetryInitialDelay;
        _retryMaxDelay = options.RetryMaxDelay;
        _feedRouter = feedRouter;
        _logger = logger ?? NullLogger<RecordWriter>.Instance;
        _maxBatchSize = options.MaxBatchSize;
        _ring = new TimeSeriesRecord[options.QueueCapacity];
        _acceptedAt = new long[options.QueueCapacity];
        _pipeline = options.Pipeline;
        _traceFile = string.IsNullOrEmpty(options.CommitTraceFile) ? null : options.CommitTraceFile;

        Meter meter;
        if (meterFactory is null)
        {
            meter = _ownedMeter = new Meter(StorageMetrics.MeterName);
        }
        else
        {
            meter = meterFactory.Create(StorageMetrics.MeterName);
        }
        _recordsWritten = meter.CreateCounter<long>("m2m.storage.records_written", "{record}", "Records committed by the batch writer.");
        _batchSize = meter.CreateHistogram<int>("m2m.storage.batch_size", "{record}", "Records per group commit.");
        _commitDuration = meter.CreateHistogram<double>("m2m.storage.commit_duration", "s", "Duration of one group commit, from taking its records off the queue until they are durable.");
        _queueWait = meter.CreateHistogram<double>("m2m.storage.commit_queue_wait", "s", "Time the oldest record of a group commit waited in the queue before the commit took it.");
        _prepareDuration = meter.CreateHistogram<double>("m2m.storage.commit_prepare_duration", "s", "Preparation of a pipelined group commit (encoding, sorting), overlapping the previous commit's write.");
        _writeDuration = meter.CreateHistogram<double>("m2m.storage.commit_write_duration", "s", "The write of a pipelined group commit (WAL append and sync).");
        meter.CreateObservableGauge("m2m.storage.queue_length", () => Volatile.Read(ref _count), "{record}", "Records accepted and not yet committed.");
        _commitFailures = meter.CreateCounter<long>("m2m.storage.commit_failures", "{commit}", "Group commits that failed (each is retried).");
    }

    /// <inheritdoc />
    public long DurableTicket => Volatile.Read(ref _durableTicket);

    /// <summary>The last ticket handed out (0 before the first record).</summary>
    public long AcceptedTicket => Volatile.Read(ref _lastTicket);

    /// <summary>The commit failure a stop gave up on (the writer is stopped), or <c>null</c>.</summary>
    public Exception? Fault => Volatile.Read(ref _fault);

    /// <summary>While commits fail (and are retried): the last error; <c>null</c> once a commit succeeds.</summary>
    public Exception? CommitError => Volatile.Read(ref _commitError);

    /// <summary>While commits fail: when the first of them failed.</summary>
    public DateTimeOffset? FailingSince
    {
        get
        {
            lock (_waitLock)
            {
                return _failingSince;
            }
        }
    }

    /// <summary>While commits fail: how many attempts failed so far.</summary>
    public int FailedAttempts => Volatile.Read(ref _failedAttempts);

    /// <summary>Starts the commit loop (idempotent).</summary>
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
        try
        {
            // Validated here so that one bad record can never make a whole batch fail.
            TimeSeriesLimits.ValidateRecord(record);
            if (TryAccept(record, out var ticket, out room))
            {
                return new ValueTask<long>(ticket);
            }
        }
        catch (Exception e)
        {
            return ValueTask.FromException<long>(e);
        }
        return WaitAndWriteAsync(record, room, cancellationToken);
    }

    private async ValueTask<long> WaitAndWriteAsync(TimeSeriesRecord record, Task room, CancellationToken cancellationToken)
    {
        while (true)
        {
            await room.WaitAsync(cancellationToken).ConfigureAwait(false);
            if (TryAccept(record, out var ticket, out room))
            {
                return ticket;
            }
        }
    }

    /// <summary>Queues the record and hands out its ticket, or returns the signal of the next free room.</summary>
    private bool TryAccept(TimeSeriesRecord record, out long ticket, out Task room)
    {
        TaskCompletionSource? wake;
        lock (_acceptLock)
        {
            if (_completed)
            {
                throw Stopped();
            }
            if (_count == _ring.Length)
            {
                _roomSignal ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                room = _roomSignal.Task;
                ticket = 0;
                return false;
            }
            var tail = _head + _count;
            tail = tail >= _ring.Length ? tail - _ring.Length : tail;
            _ring[tail] = record;
            _acceptedAt[tail] = Stopwatch.GetTimestamp();
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
            if (_fault is not null)
            {
                return ValueTask.FromException(new RecordWriterFaultedException(_fault));
            }
            waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Enqueue(waiter, ticket);
        }
        return new ValueTask(cancellationToken.CanBeCanceled ? waiter.Task.WaitAsync(cancellationToken) : waiter.Task);
    }

    /// <summary>
    /// Stops accepting records and returns once everything accepted is committed. Failing commits are
    /// retried until <paramref name="cancellationToken"/> is cancelled; then the writer gives up on them.
    /// </summary>
    public Task StopAsync(CancellationToken cancellationToken) => StopAsync(cancellationToken, cancellationToken);

    private async Task StopAsync(CancellationToken giveUp, CancellationToken wait)
    {
        Task? loop;
        TaskCompletionSource? records, room;
        lock (_acceptLock)
        {
            _completed = true;
            loop = _loop;
            (records, _recordsSignal, room, _roomSignal) = (_recordsSignal, null, _roomSignal, null);
        }
        // The loop drains what is queued, then ends; producers waiting for room see the writer stopped.
        records?.TrySetResult();
        room?.TrySetResult();
        if (loop is null)
        {
            return;
        }
        using var abandon = giveUp.Register(static s => ((CancellationTokenSource)s!).Cancel(), _abandon);
        try
        {
            await loop.WaitAsync(wait).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (wait.IsCancellationRequested)
        {
            // Leaving before the registration fired: give up here.
            _abandon.Cancel();
            throw;
        }
    }

    Task IHostedService.StartAsync(CancellationToken cancellationToken)
    {
        Start();
        return Task.CompletedTask;
    }

    /// <summary>Stops (see <see cref="StopAsync(CancellationToken)"/>), giving up on commits that still fail after 30 s.</summary>
    public async ValueTask DisposeAsync()
    {
        using var giveUp = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await StopAsync(giveUp.Token, CancellationToken.None).ConfigureAwait(false);
        _abandon.Dispose();
        _ownedMeter?.Dispose();
    }

    /// <summary>The delay before retry number <paramref name="attempt"/> (1 = the first retry): doubling from <paramref name="initial"/>, at most <paramref name="max"/>.</summary>
    public static TimeSpan RetryDelay(int attempt, TimeSpan initial, TimeSpan max)
    {
        var doublings = Math.Clamp(attempt - 1, 0, 30);
        var ticks = initial.Ticks * (double)(1L << doublings);
        return ticks >= max.Ticks ? max : TimeSpan.FromTicks((long)ticks);
    }

    private async Task RunAsync()
    {
        _trace = _traceFile is null ? null : new CommitTrace(_traceFile);
        var pipelined = _pipeline ? _store as IPipelinedTimeSeriesStore : null;
        using var committer = pipelined is null ? null : new CommitThread();
        // Two batches: one being committed (on the commit thread) while the next one is taken and prepared here.
        var batches = new[] { new List<TimeSeriesRecord>(_maxBatchSize), new List<TimeSeriesRecord>(_maxBatchSize) };
        var which = 0;
        Task<bool>? inFlight = null;
        try
        {
            while (true)
            {
                var batch = batches[which];
                long last = 0, oldest = 0;
                Task? records = null;
                TaskCompletionSource? room;
                var finished = false;
                lock (_acceptLock)
                {
                    if (_count == 0)
                    {
                        finished = _completed;
                        if (!finished && inFlight is null)
                        {
                            _recordsSignal ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                            records = _recordsSignal.Task;
                        }
                        room = null;
                    }
                    else
                    {
                        var take = Math.Min(_count, _maxBatchSize);
                        oldest = _acceptedAt[_head];
                        for (var i = 0; i < take; i++)
                        {
                            batch.Add(_ring[_head]);
                            _ring[_head] = default;
                            _head = _head + 1 == _ring.Length ? 0 : _head + 1;
                        }
                        Volatile.Write(ref _count, _count - take);
                        last = _lastTicket - _count;
                        room = _roomSignal;
                        _roomSignal = null;
                    }
                }
                if (batch.Count == 0)
                {
                    // Nothing queued: the commit in flight ends first (then the queue is looked at again), and
                    // only an idle writer waits for records.
                    if (inFlight is not null)
                    {
                        var committed = await inFlight.ConfigureAwait(false);
                        inFlight = null;
                        if (!committed)
                        {
                            return;
                        }
                        continue;
                    }
                    if (finished)
                    {
                        return;
                    }
                    await records!.ConfigureAwait(false);
                    continue;
                }
                room?.TrySetResult();

                var taken = Stopwatch.GetTimestamp();
                if (committer is null)
                {
                    if (!await CommitAsync(batch).ConfigureAwait(false))
                    {
                        return;
                    }
                    Committed(batch, last, oldest, taken, null, taken);
                    continue;
                }

                // Pipelined: this batch is prepared while the previous one is written and synced.
                var prepared = await PrepareAsync(pipelined!, batch).ConfigureAwait(false);
                if (inFlight is not null && !await inFlight.ConfigureAwait(false))
                {
                    prepared?.Dispose();
                    return;
                }
                inFlight = null;
                if (prepared is null)
                {
                    // Not prepared (a wrapped store that cannot, or routing failed): committed here, one batch after
                    // the other, with the retries of CommitAsync.
                    if (!await CommitAsync(batch).ConfigureAwait(false))
                    {
                        return;
                    }
                    Committed(batch, last, oldest, taken, null, taken);
                    continue;
                }
                var job = new CommitJob(batch, prepared, last, oldest, taken);
                inFlight = committer.Run(() => CommitPrepared(job));
                which ^= 1;
            }
        }
        finally
        {
            if (inFlight is not null)
            {
                // Whatever ended the loop, the commit in flight ends first (it completes its waiters).
                await inFlight.ConfigureAwait(false);
            }
            _trace?.Dispose();
        }
    }

    private readonly record struct CommitJob(List<TimeSeriesRecord> Batch, IPreparedCommit Prepared, long Last, long Oldest, long Taken);

    /// <summary>The prepared commit of <paramref name="batch"/>, or <c>null</c> when it could not be prepared (the commit step then saves it with retries).</summary>
    private async ValueTask<IPreparedCommit?> PrepareAsync(IPipelinedTimeSeriesStore store, List<TimeSeriesRecord> batch)
    {
        try
        {
            var feed = _feedRouter is null ? null : await _feedRouter.RouteAsync(batch, CancellationToken.None).ConfigureAwait(false);
            return store.Prepare(batch, feed);
        }
        catch (Exception)
        {
            // Routing or preparing failed: CommitAsync does both again and owns the retrying and the logging.
            return null;
        }
    }

    /// <summary>On the commit thread: writes a prepared batch (retried with <see cref="CommitAsync"/> when it fails), then completes its waiters.</summary>
    private bool CommitPrepared(CommitJob job)
    {
        var committing = Stopwatch.GetTimestamp();
        IPreparedCommit? prepared = job.Prepared;
        try
        {
            try
            {
                prepared.Commit();
            }
            catch (ObjectDisposedException e)
            {
                // The store is closed: nothing will ever succeed.
                FailAll(e, job.Batch.Count);
                return false;
            }
            catch (Exception e)
            {
                // Retried from scratch (routing and preparation again), after the usual delay.
                prepared.Dispose();
                prepared = null;
                if (!CommitAsync(job.Batch, e).AsTask().GetAwaiter().GetResult())
                {
                    return false;
                }
            }
            Committed(job.Batch, job.Last, job.Oldest, job.Taken, prepared, committing);
            return true;
        }
        finally
        {
            prepared?.Dispose();
        }
    }

    /// <summary>After a commit: metrics, the trace line, then the waiters up to <paramref name="last"/>.</summary>
    private void Committed(List<TimeSeriesRecord> batch, long last, long oldest, long taken, IPreparedCommit? prepared, long committing)
    {
        var done = Stopwatch.GetTimestamp();
        var queueWait = Stopwatch.GetElapsedTime(oldest, taken);
        _queueWait.Record(queueWait.TotalSeconds);
        _commitDuration.Record(Stopwatch.GetElapsedTime(taken, done).TotalSeconds);
        var timings = prepared?.Timings ?? default;
        if (prepared is not null)
        {
            _prepareDuration.Record(timings.PrepareTicks / (double)Stopwatch.Frequency);
            _writeDuration.Record(timings.WriteTicks / (double)Stopwatch.Frequency);
        }
        _batchSize.Record(batch.Count);
        _recordsWritten.Add(batch.Count);
        _trace?.Write(batch.Count, queueWait, timings, Stopwatch.GetElapsedTime(taken, committing), Stopwatch.GetElapsedTime(taken, done),
            (_store as IPipelinedTimeSeriesStore)?.ReadBackgroundWork() ?? StoreBackgroundWork.Unknown);
        batch.Clear();
        CompleteUpTo(last);
    }

    /// <summary>
    /// Commits <paramref name="batch"/>, retrying after failures; <c>false</c> when a stop gave up (the writer is faulted).
    /// <paramref name="failed"/>: the error of a first attempt already made (the pipelined commit that failed).
    /// </summary>
    private async ValueTask<bool> CommitAsync(List<TimeSeriesRecord> batch, Exception? failed = null)
    {
        var attempt = 0;
        if (failed is not null && !await FailedAttemptAsync(failed, ++attempt, batch.Count).ConfigureAwait(false))
        {
            return false;
        }
        while (true)
        {
            try
            {
                // The feed entries go into the same commit: a record acknowledged to its device is also
                // queued for forwarding (a routing failure fails the commit like a storage failure).
                var feed = _feedRouter is null ? null : await _feedRouter.RouteAsync(batch, CancellationToken.None).ConfigureAwait(false);
                await (feed is { Count: > 0 }
                    ? _store.SaveManyAsync(batch, feed, CancellationToken.None)
                    : _store.SaveManyAsync(batch, CancellationToken.None)).ConfigureAwait(false);
                break;
            }
            catch (ObjectDisposedException e)
            {
                // The store is closed: nothing will ever succeed.
                FailAll(e, batch.Count);
                return false;
            }
            catch (Exception e)
            {
                if (!await FailedAttemptAsync(e, ++attempt, batch.Count).ConfigureAwait(false))
                {
                    return false;
                }
            }
        }
        if (attempt > 0)
        {
            OnCommitRecovered(attempt);
        }
        return true;
    }

    /// <summary>Counts and logs a failed attempt, then waits before the next; <c>false</c> when a stop gave up meanwhile (the writer is then faulted).</summary>
    private async ValueTask<bool> FailedAttemptAsync(Exception error, int attempt, int batchCount)
    {
        _commitFailures.Add(1);
        var delay = RetryDelay(attempt, _retryInitialDelay, _retryMaxDelay);
        OnCommitFailed(error, batchCount, attempt, delay);
        try
        {
            await Task.Delay(delay, _abandon.Token).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            FailAll(error, batchCount);
            return false;
        }
    }

    private void OnCommitFailed(Exception error, int batchCount, int attempt, TimeSpan delay)
    {
        lock (_waitLock)
        {
            _failingSince ??= DateTimeOffset.UtcNow;
            Volatile.Write(ref _commitError, error);
            Volatile.Write(ref _failedAttempts, attempt);
        }
        if (attempt == 1)
        {
            _logger.LogError(error, "Commit of {Count} records failed; retrying in {Delay} until it succeeds. The records stay queued; nothing past ticket {Ticket} is reported durable.",
                batchCount, delay, DurableTicket);
        }
        else if (attempt % 10 == 0)
        {
            _logger.LogWarning("Commits still fail after {Attempts} attempts ({Error}); retrying every {Delay}", attempt, error.Message, delay);
        }
    }

    private void OnCommitRecovered(int attempts)
    {
        DateTimeOffset? since;
        lock (_waitLock)
        {
            since = _failingSince;
            _failingSince = null;
            Volatile.Write(ref _commitError, null);
            Volatile.Write(ref _failedAttempts, 0);
        }
        _logger.LogWarning("Commits succeed again after {Attempts} failed attempts over {Duration}", attempts, DateTimeOffset.UtcNow - since);
    }

    private void CompleteUpTo(long ticket)
    {
        lock (_waitLock)
        {
            // Published inside the lock: a waiter registering now either sees it or is completed below.
            Volatile.Write(ref _durableTicket, ticket);
            while (_waiters.TryPeek(out var waiter, out var waitedTicket) && waitedTicket <= ticket)
            {
                _waiters.Dequeue();
                waiter.TrySetResult();
            }
        }
    }

    private void FailAll(Exception error, int batchCount)
    {
        _logger.LogError(error, "Giving up on a commit of {Count} records; the record writer stops. Durable up to ticket {Ticket}; later records are dropped unacknowledged.", batchCount, DurableTicket);
        TaskCompletionSource? room;
        lock (_acceptLock)
        {
            Volatile.Write(ref _fault, error);
            _completed = true;
            // Queued records are dropped unacknowledged: nothing past the durable ticket is reported stored.
            Array.Clear(_ring);
            _head = 0;
            Volatile.Write(ref _count, 0);
            room = _roomSignal;
            _roomSignal = null;
        }
        room?.TrySetResult();
        lock (_waitLock)
        {
            while (_waiters.TryDequeue(out var waiter, out _))
            {
                waiter.TrySetException(new RecordWriterFaultedException(error));
            }
        }
    }

    private Exception Stopped() => _fault is { } fault
        ? new RecordWriterFaultedException(fault)
        : new InvalidOperationException("The record writer is stopped; it accepts no more records.");
}

/// <summary>Tuning of the batch writer (configuration section <c>M2M:Storage:Writer</c>).</summary>
public sealed class RecordWriterOptions
{
    /// <summary>Records accepted and not yet committed before producers wait.</summary>
    public int QueueCapacity { get; set; } = 50_000;

    /// <summary>Most records in one group commit.</summary>
    public int MaxBatchSize { get; set; } = 5_000;

    /// <summary>Delay before retrying a failed commit the first time; it doubles with each failure.</summary>
    public TimeSpan RetryInitialDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Longest delay between two attempts of a failing commit.</summary>
    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Prepares the next group commit while the current one is written and synced, when the store can
    /// (<see cref="IPipelinedTimeSeriesStore"/>: RocksDB); <c>false</c> (the default) commits one batch after
    /// the other. Off by default: on the quiet machine the pipeline made fewer, larger commits and doubled the
    /// barrier p99 at half the maximum rate for no clear throughput gain (<c>BENCHMARKS.md</c>, "Barrier tail").
    /// </summary>
    public bool Pipeline { get; set; }

    /// <summary>
    /// Diagnostics, off by default: a file that receives one CSV line per group commit (its size, queue wait,
    /// preparation, write and sync, GC pauses, thread-pool queue, the store's flushes and compactions; columns
    /// in <see cref="CommitTrace"/>, use in <c>BENCHMARKS.md</c>, "Barrier tail"). Meant for a benchmark run, not for production.
    /// </summary>
    public string? CommitTraceFile { get; set; }
}

/// <summary>The batch writer stopped while a commit was failing; records past its durable ticket were not stored.</summary>
public sealed class RecordWriterFaultedException(Exception innerException)
    : Exception("The record writer stopped while a commit was failing; records not reported durable were not stored and must be sent again.", innerException);

/// <summary>Names of the storage instruments.</summary>
public static class StorageMetrics
{
    /// <summary>The <see cref="Meter"/> of the storage module.</summary>
    public const string MeterName = "M2M.Storage";
}
