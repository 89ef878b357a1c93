using System.Diagnostics.Metrics;
using M2M.Storage.Rocks;
using M2M.Storage.TimeSeries;
using M2M.Testing;

namespace M2M.Storage.Tests;

public sealed class RecordWriterTests : IDisposable
{
    private readonly TempDirectory _directory = new("m2m-writer");
    private readonly RocksStore _rocks;
    private readonly RocksTimeSeriesStore _store;

    public RecordWriterTests()
    {
        _rocks = RocksStore.Open(_directory.Path);
        _store = new RocksTimeSeriesStore(_rocks);
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose()
    {
        _rocks.Dispose();
        _directory.Dispose();
    }

    private static TimeSeriesRecord Record(int producer, int sequence) =>
        new($"dev-{producer}", sequence % 3 == 0 ? "sen:loc" : "sen:temp",
            new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero).AddMinutes(sequence * 37), $$"""{"p":{{producer}},"s":{{sequence}}}""");

    [Fact]
    public async Task Every_ticket_of_concurrent_producers_is_durable_only_once_its_record_is_readable()
    {
        await using var writer = new RecordWriter(_store, new RecordWriterOptions { QueueCapacity = 256, MaxBatchSize = 100 });
        writer.Start();
        const int Producers = 8;
        const int PerProducer = 1_500;

        var tickets = await Task.WhenAll(Enumerable.Range(0, Producers).Select(p => Task.Run(async () =>
        {
            var mine = new List<long>();
            for (var i = 0; i < PerProducer; i++)
            {
                var record = Record(p, i);
                var ticket = await writer.WriteAsync(record, Ct);
                mine.Add(ticket);
                if (i % 10 == 9 || i == PerProducer - 1)
                {
                    await writer.WaitDurableAsync(ticket, Ct);
                    Assert.True(writer.DurableTicket >= ticket);
                    // Everything this producer wrote up to the ticket is readable now.
                    for (var j = i - i % 10; j <= i; j++)
                    {
                        var expected = Record(p, j);
                        Assert.Equal([expected], await _store.GetAsync(expected.Id, expected.Type, expected.Time, Ct));
                    }
                }
            }
            return mine;
        }, Ct)));

        var all = tickets.SelectMany(t => t).ToList();
        Assert.Equal(Producers * PerProducer, all.Distinct().Count());
        Assert.Equal(Enumerable.Range(1, Producers * PerProducer).Select(i => (long)i), all.Order());
        Assert.All(tickets, mine => Assert.Equal(mine.Order(), mine));
        Assert.Equal(Producers * PerProducer, writer.DurableTicket);
        for (var p = 0; p < Producers; p++)
        {
            var page = await _store.QueryAsync(new TimeSeriesQuery($"dev-{p}", Limit: TimeSeriesQuery.MaxLimit), Ct);
            Assert.Equal(PerProducer, page.Items.Count);
        }
    }

    [Fact]
    public async Task A_ticket_covers_the_records_of_other_producers_accepted_before_it()
    {
        await using var writer = new RecordWriter(_store);
        var first = await writer.WriteAsync(Record(1, 1), Ct);
        var second = await writer.WriteAsync(Record(2, 1), Ct);
        Assert.True(second > first);
        var wait = writer.WaitDurableAsync(second, Ct).AsTask();
        Assert.False(wait.IsCompleted, "Nothing is committed before the writer starts.");
        Assert.Equal(0, writer.DurableTicket);

        writer.Start();
        await wait;

        Assert.Single(await _store.GetAsync("dev-1", Record(1, 1).Type, Record(1, 1).Time, Ct));
        Assert.Single(await _store.GetAsync("dev-2", Record(2, 1).Type, Record(2, 1).Time, Ct));
        Assert.True(writer.WaitDurableAsync(first, Ct).IsCompletedSuccessfully);
    }

    [Fact]
    public async Task Waiting_for_a_ticket_never_handed_out_is_an_error()
    {
        await using var writer = new RecordWriter(_store);
        writer.Start();
        var ticket = await writer.WriteAsync(Record(1, 1), Ct);

        Assert.Throws<ArgumentOutOfRangeException>(() => writer.WaitDurableAsync(ticket + 1, Ct));
    }

    [Fact]
    public async Task Full_queue_makes_producers_wait_and_drops_nothing()
    {
        await using var writer = new RecordWriter(_store, new RecordWriterOptions { QueueCapacity = 10, MaxBatchSize = 4 });
        for (var i = 0; i < 10; i++)
        {
            await writer.WriteAsync(Record(1, i), Ct);
        }

        var blocked = writer.WriteAsync(Record(1, 10), Ct).AsTask();
        await Task.Delay(100, Ct);
        Assert.False(blocked.IsCompleted, "A full queue must make the producer wait.");

        writer.Start();
        var ticket = await blocked;
        Assert.Equal(11, ticket);
        await writer.WaitDurableAsync(ticket, Ct);
        var page = await _store.QueryAsync(new TimeSeriesQuery("dev-1", Limit: 100), Ct);
        Assert.Equal(11, page.Items.Count);
    }

    [Fact]
    public async Task Cancelling_a_wait_cancels_only_that_wait()
    {
        await using var writer = new RecordWriter(_store);
        var ticket = await writer.WriteAsync(Record(1, 1), Ct);
        using var cancel = new CancellationTokenSource();

        var cancelled = writer.WaitDurableAsync(ticket, cancel.Token).AsTask();
        var other = writer.WaitDurableAsync(ticket, Ct).AsTask();
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        writer.Start();
        await other;
    }

    [Fact]
    public async Task Stopping_commits_every_accepted_record_and_refuses_new_ones()
    {
        var writer = new RecordWriter(_store, new RecordWriterOptions { MaxBatchSize = 50 });
        writer.Start();
        long last = 0;
        for (var i = 0; i < 2_000; i++)
        {
            last = await writer.WriteAsync(Record(i % 5, i), Ct);
        }

        await writer.DisposeAsync();

        Assert.Equal(last, writer.DurableTicket);
        var total = 0;
        for (var p = 0; p < 5; p++)
        {
            total += (await _store.QueryAsync(new TimeSeriesQuery($"dev-{p}", Limit: TimeSeriesQuery.MaxLimit), Ct)).Items.Count;
        }
        Assert.Equal(2_000, total);
        await Assert.ThrowsAsync<InvalidOperationException>(() => writer.WriteAsync(Record(1, 1), Ct).AsTask());
    }

    [Fact]
    public async Task Invalid_record_is_refused_when_written_and_does_not_affect_the_others()
    {
        await using var writer = new RecordWriter(_store);
        writer.Start();
        var good = await writer.WriteAsync(Record(1, 1), Ct);

        await Assert.ThrowsAsync<StorageValidationException>(() => writer.WriteAsync(new TimeSeriesRecord("", "t", DateTimeOffset.UtcNow, "{}"), Ct).AsTask());
        var after = await writer.WriteAsync(Record(1, 2), Ct);

        Assert.Equal(good + 1, after);
        await writer.WaitDurableAsync(after, Ct);
        Assert.Equal(2, (await _store.QueryAsync(new TimeSeriesQuery("dev-1"), Ct)).Items.Count);
    }

    private static RecordWriterOptions Retrying(bool pipelined, int queueCapacity = 50_000, int maxBatchSize = 5_000) => new()
    {
        Pipeline = pipelined,
        QueueCapacity = queueCapacity,
        MaxBatchSize = maxBatchSize,
        RetryInitialDelay = TimeSpan.FromMilliseconds(10),
        RetryMaxDelay = TimeSpan.FromMilliseconds(100),
    };

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_failed_commit_is_retried_until_the_store_takes_it_and_nothing_is_durable_before(bool pipelined)
    {
        var store = new FlakyStore(_store, pipelined);
        await using var writer = new RecordWriter(store, Retrying(pipelined, maxBatchSize: 1));
        writer.Start();
        var first = await writer.WriteAsync(Record(1, 1), Ct);
        await writer.WaitDurableAsync(first, Ct);

        store.Failing = true;
        var second = await writer.WriteAsync(Record(1, 2), Ct);
        var waiting = writer.WaitDurableAsync(second, Ct).AsTask();
        await WaitUntilAsync(() => store.FailedCalls >= 3);

        Assert.False(waiting.IsCompleted);
        Assert.Equal(first, writer.DurableTicket);
        Assert.IsType<IOException>(writer.CommitError);
        Assert.NotNull(writer.FailingSince);
        Assert.True(writer.FailedAttempts >= 3);
        Assert.Null(writer.Fault);
        Assert.Empty(await _store.GetAsync("dev-1", Record(1, 2).Type, Record(1, 2).Time, Ct));

        store.Failing = false;
        await waiting.WaitAsync(TimeSpan.FromSeconds(30), Ct);

        Assert.Equal(second, writer.DurableTicket);
        Assert.Null(writer.CommitError);
        Assert.Null(writer.FailingSince);
        Assert.Equal([Record(1, 2)], await _store.GetAsync("dev-1", Record(1, 2).Type, Record(1, 2).Time, Ct));
        // And the writer goes on as before.
        await writer.WaitDurableAsync(await writer.WriteAsync(Record(1, 3), Ct), Ct);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task While_commits_fail_producers_wait_for_room_and_every_record_is_stored_afterwards(bool pipelined)
    {
        var store = new FlakyStore(_store, pipelined) { Failing = true };
        await using var writer = new RecordWriter(store, Retrying(pipelined, queueCapacity: 4, maxBatchSize: 2));
        writer.Start();

        var accepted = new List<long>();
        Task<long>? blocked = null;
        for (var i = 0; i < 20 && blocked is null; i++)
        {
            var write = writer.WriteAsync(Record(2, i), Ct).AsTask();
            if (await Task.WhenAny(write, Task.Delay(300, Ct)) == write)
            {
                accepted.Add(await write);
            }
            else
            {
                // The queue (4) and the batch being retried (at most 2; pipelined, plus the next one) are full: back-pressure.
                blocked = write;
            }
        }
        Assert.NotNull(blocked);
        // Pipelined, the next batch (at most 2 more) is taken and prepared while the failing one is retried.
        Assert.InRange(accepted.Count, 4, pipelined ? 8 : 6);
        Assert.Equal(0, writer.DurableTicket);

        store.Failing = false;
        accepted.Add(await blocked);
        await writer.WaitDurableAsync(accepted[^1], Ct);

        var stored = await _store.QueryAsync(new TimeSeriesQuery("dev-2", Limit: 100), Ct);
        Assert.Equal(accepted.Count, stored.Items.Count);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_stop_gives_up_on_failing_commits_once_its_token_is_cancelled_and_fails_the_waiters(bool pipelined)
    {
        var store = new FlakyStore(_store, pipelined) { Failing = true };
        var writer = new RecordWriter(store, Retrying(pipelined));
        writer.Start();
        var ticket = await writer.WriteAsync(Record(3, 1), Ct);
        var waiting = writer.WaitDurableAsync(ticket, Ct).AsTask();
        await WaitUntilAsync(() => store.FailedCalls >= 2);

        using var shutdown = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => writer.StopAsync(shutdown.Token));

        var error = await Assert.ThrowsAsync<RecordWriterFaultedException>(() => waiting.WaitAsync(TimeSpan.FromSeconds(30), Ct));
        Assert.IsType<IOException>(error.InnerException);
        Assert.NotNull(writer.Fault);
        Assert.Equal(0, writer.DurableTicket);
        await Assert.ThrowsAsync<RecordWriterFaultedException>(() => writer.WriteAsync(Record(3, 2), Ct).AsTask());
        await writer.DisposeAsync();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_closed_store_stops_the_writer_at_once(bool pipelined)
    {
        var store = new FlakyStore(_store, pipelined) { Closed = true };
        await using var writer = new RecordWriter(store, Retrying(pipelined));
        writer.Start();

        var ticket = await writer.WriteAsync(Record(4, 1), Ct);

        await Assert.ThrowsAsync<RecordWriterFaultedException>(() => writer.WaitDurableAsync(ticket, Ct).AsTask().WaitAsync(TimeSpan.FromSeconds(30), Ct));
        Assert.IsType<ObjectDisposedException>(writer.Fault);
    }

    [Theory]
    [InlineData(1, 100)]
    [InlineData(2, 200)]
    [InlineData(4, 800)]
    [InlineData(6, 3_200)]
    [InlineData(7, 5_000)]
    [InlineData(1_000, 5_000)]
    public void Retry_delays_double_from_the_initial_delay_up_to_the_maximum(int attempt, int expectedMs)
    {
        Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), RecordWriter.RetryDelay(attempt, TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(5)));
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met within 30 s");
            await Task.Delay(10, Ct);
        }
    }

    [Fact]
    public async Task Commits_are_reported_as_metrics()
    {
        long written = 0;
        var batches = new List<int>();
        var durations = 0;
        // A meter factory of our own: writers of tests running in parallel use other meters of the same name.
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var meterFactory = services.GetRequiredService<IMeterFactory>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == StorageMetrics.MeterName && ReferenceEquals(instrument.Meter.Scope, meterFactory))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
        {
            if (instrument.Name == "m2m.storage.records_written")
            {
                Interlocked.Add(ref written, value);
            }
        });
        listener.SetMeasurementEventCallback<int>((instrument, value, _, _) =>
        {
            if (instrument.Name == "m2m.storage.batch_size")
            {
                lock (batches)
                {
                    batches.Add(value);
                }
            }
            else if (instrument.Name == "m2m.storage.queue_length")
            {
                Assert.InRange(value, 0, 100);
            }
        });
        listener.SetMeasurementEventCallback<double>((instrument, value, _, _) =>
        {
            if (instrument.Name == "m2m.storage.commit_duration" && value > 0)
            {
                Interlocked.Increment(ref durations);
            }
        });
        listener.Start();

        var writer = new RecordWriter(_store, new RecordWriterOptions { QueueCapacity = 100, MaxBatchSize = 30 }, meterFactory);
        await using (writer)
        {
            for (var i = 0; i < 100; i++)
            {
                await writer.WriteAsync(Record(1, i), Ct);
            }
            writer.Start();
            await writer.WaitDurableAsync(100, Ct);
            listener.RecordObservableInstruments();
        }

        Assert.Equal(100, Interlocked.Read(ref written));
        Assert.Equal(100, batches.Sum());
        Assert.All(batches, b => Assert.InRange(b, 1, 30));
        Assert.Equal(batches.Count, durations);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task The_commit_trace_has_one_line_per_commit_accounting_for_every_record(bool pipeline)
    {
        var trace = Path.Combine(_directory.Path, "commits.csv");
        var writer = new RecordWriter(_store, new RecordWriterOptions { QueueCapacity = 100, MaxBatchSize = 30, Pipeline = pipeline, CommitTraceFile = trace });
        await using (writer)
        {
            for (var i = 0; i < 100; i++)
            {
                await writer.WriteAsync(Record(5, i), Ct);
            }
            writer.Start();
            await writer.WaitDurableAsync(100, Ct);
        }

        var lines = await File.ReadAllLinesAsync(trace, Ct);
        var header = lines[0].Split(',');
        Assert.Equal("unix_ms", header[0]);
        var rows = lines[1..].Select(l => l.Split(',')).ToList();
        Assert.All(rows, r => Assert.Equal(header.Length, r.Length));
        var records = Array.IndexOf(header, "records");
        Assert.Equal(100, rows.Sum(r => int.Parse(r[records], System.Globalization.CultureInfo.InvariantCulture)));
        Assert.All(rows, r => Assert.InRange(int.Parse(r[records], System.Globalization.CultureInfo.InvariantCulture), 1, 30));
        // The pipelined commits of RocksDB report their write (WAL append) time; the store's L0 file count is known.
        var write = Array.IndexOf(header, "write_us");
        var level0 = Array.IndexOf(header, "l0_files");
        Assert.All(rows, r => Assert.True(long.Parse(r[level0], System.Globalization.CultureInfo.InvariantCulture) >= 0));
        Assert.Equal(pipeline, rows.Any(r => long.Parse(r[write], System.Globalization.CultureInfo.InvariantCulture) > 0));
    }

    /// <summary>
    /// The real store, whose commits fail as on a full disk while <see cref="Failing"/> is set; when
    /// <paramref name="pipelined"/>, the writer's pipelined commits (prepared by the real store) fail the same way.
    /// </summary>
    internal sealed class FlakyStore(RocksTimeSeriesStore inner, bool pipelined = false) : ITimeSeriesStore, IPipelinedTimeSeriesStore
    {
        private int _failedCalls;

        public volatile bool Failing;

        public volatile bool Closed;

        public int FailedCalls => Volatile.Read(ref _failedCalls);

        public IPreparedCommit? Prepare(IReadOnlyList<TimeSeriesRecord> records, IReadOnlyList<Forwarding.FeedGroup>? feed) =>
            pipelined ? new FlakyCommit(this, inner.Prepare(records, feed)) : null;

        public StoreBackgroundWork ReadBackgroundWork() => inner.ReadBackgroundWork();

        private sealed class FlakyCommit(FlakyStore store, IPreparedCommit prepared) : IPreparedCommit
        {
            public CommitTimings Timings => prepared.Timings;

            public void Commit()
            {
                if (store.Closed)
                {
                    throw new ObjectDisposedException("store");
                }
                if (store.Failing)
                {
                    Interlocked.Increment(ref store._failedCalls);
                    throw new IOException("No space left on device", 28);
                }
                prepared.Commit();
            }

            public void Dispose() => prepared.Dispose();
        }

        public ValueTask SaveManyAsync(IReadOnlyList<TimeSeriesRecord> records, CancellationToken cancellationToken = default)
        {
            if (Closed)
            {
                return ValueTask.FromException(new ObjectDisposedException("store"));
            }
            if (Failing)
            {
                Interlocked.Increment(ref _failedCalls);
                return ValueTask.FromException(new IOException("No space left on device", 28));
            }
            return inner.SaveManyAsync(records, cancellationToken);
        }

        public ValueTask SaveManyAsync(IReadOnlyList<TimeSeriesRecord> records, IReadOnlyList<Forwarding.FeedGroup> feed, CancellationToken cancellationToken = default)
        {
            if (Closed)
            {
                return ValueTask.FromException(new ObjectDisposedException("store"));
            }
            if (Failing)
            {
                Interlocked.Increment(ref _failedCalls);
                return ValueTask.FromException(new IOException("No space left on device", 28));
            }
            return inner.SaveManyAsync(records, feed, cancellationToken);
        }

        public ValueTask SaveAsync(TimeSeriesRecord record, CancellationToken cancellationToken = default) => inner.SaveAsync(record, cancellationToken);
        public ValueTask<TimeSeriesPage> QueryAsync(TimeSeriesQuery query, CancellationToken cancellationToken = default) => inner.QueryAsync(query, cancellationToken);
        public ValueTask<IReadOnlyList<TimeSeriesRecord>> GetLatestAsync(string id, CancellationToken cancellationToken = default) => inner.GetLatestAsync(id, cancellationToken);
        public ValueTask<IReadOnlyList<TimeSeriesRecord>> GetAsync(string id, string type, DateTimeOffset time, CancellationToken cancellationToken = default) => inner.GetAsync(id, type, time, cancellationToken);
        public ValueTask<int> DeleteAsync(string id, string type, DateTimeOffset time, CancellationToken cancellationToken = default) => inner.DeleteAsync(id, type, time, cancellationToken);
        public ValueTask<bool> DeleteRecordAsync(TimeSeriesRecord record, CancellationToken cancellationToken = default) => inner.DeleteRecordAsync(record, cancellationToken);
        public ValueTask DeleteRangeAsync(string id, string? type, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken = default) => inner.DeleteRangeAsync(id, type, from, to, cancellationToken);
        public ValueTask<long> ExpireRangeAsync(string id, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken = default) => inner.ExpireRangeAsync(id, from, to, cancellationToken);
        public ValueTask<IReadOnlyList<DateOnly>> GetMonthsAsync(CancellationToken cancellationToken = default) => inner.GetMonthsAsync(cancellationToken);
        public ValueTask DropMonthAsync(DateOnly month, CancellationToken cancellationToken = default) => inner.DropMonthAsync(month, cancellationToken);
    }
}
