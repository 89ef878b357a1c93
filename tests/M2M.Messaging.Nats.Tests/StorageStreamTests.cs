using System.Collections.Concurrent;
using M2M.Storage.Rocks;
using M2M.Storage.TimeSeries;
using M2M.Testing;

namespace M2M.Messaging.Nats.Tests;

/// <summary>
/// The <c>storage</c> topic on JetStream: the barrier is the stream's acknowledgement, writers
/// commit then acknowledge, and what a dead writer did not acknowledge is delivered again.
/// </summary>
public class StorageStreamTests
{
    [Fact]
    public async Task The_barrier_completes_once_the_stream_holds_every_record_published_before_it()
    {
        var prefix = NatsNode.NewPrefix();
        await using var node = await NatsNode.StartBusAsync(NatsNode.Url, prefix, s => s["M2M:Nats:PublishBatchRecords"] = "64");
        var series = $"dev-{Guid.NewGuid():D}";
        var producers = Enumerable.Range(0, 4).Select(_ => node.Records.CreatePublisher()).ToArray();

        // Four connections publishing at once, each then waiting for its barrier.
        await Task.WhenAll(producers.Select(async (producer, p) =>
        {
            for (var i = 0; i < 2_500; i++)
            {
                await producer.PublishAsync(StreamReader.Record(series, (p * 2_500) + i), TestContext.Current.CancellationToken);
            }
            await producer.FlushAsync(TestContext.Current.CancellationToken);
        }));

        var stored = await StreamReader.ReadRecordsAsync(NatsNode.Url, node.Infrastructure.Names.StorageStream);
        Assert.Equal(10_000, stored.Count);
        Assert.Equal(10_000, stored.Select(r => r.Time).Distinct().Count());
        var sample = stored.Single(r => r.Time == StreamReader.Record(series, 1234).Time);
        Assert.Equal(StreamReader.Record(series, 1234), sample);
        // Batched: far fewer messages than records.
        Assert.True(await StreamReader.MessageCountAsync(NatsNode.Url, node.Infrastructure.Names.StorageStream) < 1_000);
    }

    [Fact]
    public async Task A_record_whose_data_is_not_json_is_refused_at_the_producer()
    {
        var prefix = NatsNode.NewPrefix();
        await using var node = await NatsNode.StartBusAsync(NatsNode.Url, prefix);
        var producer = node.Records.CreatePublisher();

        await Assert.ThrowsAsync<StorageValidationException>(async () =>
            await producer.PublishAsync(new TimeSeriesRecord("dev-x", "t", DateTimeOffset.UtcNow, "{\"open\":"), TestContext.Current.CancellationToken));
        await producer.FlushAsync(TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task While_the_server_is_down_the_barrier_waits_and_completes_when_it_returns()
    {
        await using var server = new NatsServerProcess();
        await server.StartAsync(TestContext.Current.CancellationToken);
        var prefix = NatsNode.NewPrefix();
        await using var node = await NatsNode.StartBusAsync(server.Url, prefix);
        var series = $"dev-{Guid.NewGuid():D}";
        var producer = node.Records.CreatePublisher();
        for (var i = 0; i < 100; i++)
        {
            await producer.PublishAsync(StreamReader.Record(series, i), TestContext.Current.CancellationToken);
        }
        await producer.FlushAsync(TestContext.Current.CancellationToken);

        await server.KillAsync();
        for (var i = 100; i < 200; i++)
        {
            await producer.PublishAsync(StreamReader.Record(series, i), TestContext.Current.CancellationToken);
        }
        var barrier = producer.FlushAsync(TestContext.Current.CancellationToken).AsTask();
        await Task.Delay(TimeSpan.FromSeconds(3), TestContext.Current.CancellationToken);
        Assert.False(barrier.IsCompleted, "the barrier must not complete while JetStream cannot acknowledge");

        await server.StartAsync(TestContext.Current.CancellationToken);
        await barrier.WaitAsync(TimeSpan.FromSeconds(90), TestContext.Current.CancellationToken);

        var stored = await StreamReader.ReadRecordsAsync(server.Url, node.Infrastructure.Names.StorageStream);
        Assert.Equal(Enumerable.Range(0, 200).Select(i => StreamReader.Record(series, i).Time), stored.Select(r => r.Time).Distinct().Order());
    }

    [Fact]
    public async Task Two_writers_share_the_stream_and_commit_every_record_once()
    {
        var prefix = NatsNode.NewPrefix();
        using var db = new TempDirectory("m2m-nats-writer");
        using var rocks = RocksStore.Open(db.Path);
        var store = new RocksTimeSeriesStore(rocks);
        var counting = new CountingStore(store);
        await using var writer1 = await NatsNode.StartWriterAsync(NatsNode.Url, prefix, counting);
        await using var writer2 = await NatsNode.StartWriterAsync(NatsNode.Url, prefix, counting);
        await using var node = await NatsNode.StartBusAsync(NatsNode.Url, prefix, s => s["M2M:Nats:PublishBatchRecords"] = "50");
        var series = $"dev-{Guid.NewGuid():D}";
        var producer = node.Records.CreatePublisher();

        for (var i = 0; i < 5_000; i++)
        {
            await producer.PublishAsync(StreamReader.Record(series, i), TestContext.Current.CancellationToken);
        }
        await producer.FlushAsync(TestContext.Current.CancellationToken);

        await NatsNode.EventuallyAsync(async () => await CountAsync(store, series) == 5_000, "every record committed");
        await NatsNode.EventuallyAsync(async () => await StreamReader.MessageCountAsync(NatsNode.Url, node.Infrastructure.Names.StorageStream) == 0, "every message acknowledged (work queue emptied)");
        Assert.Equal(5_000, counting.Saved);
        Assert.True(writer1.Services.GetRequiredService<StorageWriterService>().Committed > 0 || writer2.Services.GetRequiredService<StorageWriterService>().Committed > 0);
    }

    [Fact]
    public async Task Records_a_writer_took_but_never_acknowledged_are_committed_by_another_after_it_dies()
    {
        var prefix = NatsNode.NewPrefix();
        using var db = new TempDirectory("m2m-nats-writer");
        using var rocks = RocksStore.Open(db.Path);
        var store = new RocksTimeSeriesStore(rocks);
        var ackWait = new Action<Dictionary<string, string?>>(s => s["M2M:Nats:WriterAckWait"] = "00:00:02");
        // The first writer takes a batch and hangs in its commit, as a process that died mid-batch.
        var hanging = new HangingStore();
        var dying = await NatsNode.StartWriterAsync(NatsNode.Url, prefix, hanging, ackWait);
        await using var node = await NatsNode.StartBusAsync(NatsNode.Url, prefix);
        var series = $"dev-{Guid.NewGuid():D}";
        var producer = node.Records.CreatePublisher();
        for (var i = 0; i < 1_000; i++)
        {
            await producer.PublishAsync(StreamReader.Record(series, i), TestContext.Current.CancellationToken);
        }
        await producer.FlushAsync(TestContext.Current.CancellationToken);
        await hanging.Entered.Task.WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
        await dying.CrashAsync();

        await using var survivor = await NatsNode.StartWriterAsync(NatsNode.Url, prefix, store, ackWait);

        await NatsNode.EventuallyAsync(async () => await CountAsync(store, series) == 1_000, "every record committed by the second writer", TimeSpan.FromSeconds(90));
        await NatsNode.EventuallyAsync(async () => await StreamReader.MessageCountAsync(NatsNode.Url, node.Infrastructure.Names.StorageStream) == 0, "every message acknowledged");
        var page = await store.QueryAsync(new TimeSeriesQuery(series, Limit: TimeSeriesQuery.MaxLimit, Descending: false), TestContext.Current.CancellationToken);
        Assert.Equal(Enumerable.Range(0, 1_000).Select(i => StreamReader.Record(series, i)), page.Items);
    }

    private static async Task<int> CountAsync(ITimeSeriesStore store, string series)
    {
        var page = await store.QueryAsync(new TimeSeriesQuery(series, Limit: TimeSeriesQuery.MaxLimit), TestContext.Current.CancellationToken);
        return page.Items.Count;
    }

    /// <summary>A real store that counts what it was asked to save.</summary>
    private sealed class CountingStore(ITimeSeriesStore inner) : DelegatingStore(inner)
    {
        private long _saved;

        public long Saved => Interlocked.Read(ref _saved);

        public override async ValueTask SaveManyAsync(IReadOnlyList<TimeSeriesRecord> records, CancellationToken cancellationToken = default)
        {
            await base.SaveManyAsync(records, cancellationToken);
            Interlocked.Add(ref _saved, records.Count);
        }
    }

    /// <summary>A commit that never ends (until cancelled): the writer holding it stands for a dead process.</summary>
    private sealed class HangingStore() : DelegatingStore(null!)
    {
        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override async ValueTask SaveManyAsync(IReadOnlyList<TimeSeriesRecord> records, CancellationToken cancellationToken = default)
        {
            Entered.TrySetResult();
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }
    }
}
