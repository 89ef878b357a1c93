using System.Diagnostics;
using System.Threading.Channels;
using M2M.Storage;
using M2M.Storage.TimeSeries;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NATS.Client.Core;
using NATS.Client.JetStream;

namespace M2M.Messaging.Nats;

/// <summary>
/// A storage writer: takes <c>storage</c> messages from the durable pull consumer that every writer
/// shares, commits their records to the <see cref="ITimeSeriesStore"/> in one
/// <see cref="ITimeSeriesStore.SaveManyAsync(IReadOnlyList{TimeSeriesRecord}, CancellationToken)"/> per batch (one transaction), then acknowledges the
/// messages. A writer that dies before acknowledging leaves its messages to be delivered again after
/// <see cref="NatsBusOptions.WriterAckWait"/>, to any writer; storing a record twice is harmless
/// (writes are idempotent on the record's identity).
/// </summary>
/// <remarks>
/// <para>The consumer prefetches while a batch commits, so the database is never idle waiting for
/// the broker. A batch takes whatever messages are waiting, up to <see cref="NatsBusOptions.WriterBatchRecords"/>
/// records.</para>
/// <para>A failed commit (the database restarts, a network cut) is retried with back-off until it
/// succeeds, telling JetStream meanwhile that the messages are in progress so they are not handed to
/// another writer. This writer does not use the single node's batch writer (<see cref="RecordWriter"/>),
/// which retries a failed commit the same way (back-off, nothing reported durable meanwhile) for a full
/// disk under RocksDB; here the acknowledgement to JetStream is what waits.</para>
/// </remarks>
public sealed class StorageWriterService(
    NatsInfrastructure nats,
    ITimeSeriesStore store,
    IOptions<NatsBusOptions> options,
    ILogger<StorageWriterService> logger) : BackgroundService
{
    private long _committed;
    private int _failing;

    /// <summary>Records this writer committed.</summary>
    public long Committed => Interlocked.Read(ref _committed);

    /// <summary>Whether the last commit failed (reported by the health check).</summary>
    public bool IsFailing => Volatile.Read(ref _failing) != 0;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var o = options.Value;
        var channel = Channel.CreateBounded<INatsJSMsg<byte[]>>(new BoundedChannelOptions(Math.Max(16, o.WriterMaxAckPending))
        {
            SingleReader = true,
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        var receive = ReceiveAsync(channel.Writer, stop.Token);
        try
        {
            await CommitLoopAsync(channel.Reader, o.WriterBatchRecords, stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: unacknowledged messages go to another writer.
        }
        finally
        {
            await stop.CancelAsync();
            await receive.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    private async Task ReceiveAsync(ChannelWriter<INatsJSMsg<byte[]>> writer, CancellationToken cancellationToken)
    {
        var prefetch = Math.Clamp(options.Value.WriterMaxAckPending / 2, 1, 500);
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var consumer = await nats.GetWriterConsumerAsync(cancellationToken);
                logger.LogInformation("Storage writer consuming {Stream} as {Consumer}", nats.Names.StorageStream, nats.Names.WriterConsumer);
                await foreach (var msg in consumer.ConsumeAsync(NatsRawSerializer<byte[]>.Default, new NatsJSConsumeOpts { MaxMsgs = prefetch }, cancellationToken))
                {
                    await writer.WriteAsync(msg, cancellationToken);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                logger.LogWarning(e, "Consuming {Stream} failed; retrying", nats.Names.StorageStream);
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    private async Task CommitLoopAsync(ChannelReader<INatsJSMsg<byte[]>> reader, int maxRecords, CancellationToken cancellationToken)
    {
        var messages = new List<INatsJSMsg<byte[]>>();
        var records = new List<TimeSeriesRecord>(maxRecords);
        var links = new List<ActivityLink>();
        while (await reader.WaitToReadAsync(cancellationToken))
        {
            messages.Clear();
            records.Clear();
            links.Clear();
            ActivityContext parent = default;
            while (records.Count < maxRecords && reader.TryRead(out var msg))
            {
                messages.Add(msg);
                StorageBatchCodec.Read(msg.Data ?? [], records, out var invalid);
                if (invalid > 0)
                {
                    NatsTelemetry.WriterPoison.Add(invalid);
                    logger.LogError("{Count} lines of storage message {Sequence} are not store_ts records; skipped", invalid, msg.Metadata?.Sequence.Stream);
                }
                var context = NatsTelemetry.ContextOf(msg.Headers);
                if (context != default)
                {
                    if (parent == default)
                    {
                        parent = context;
                    }
                    else if (links.Count < 32)
                    {
                        links.Add(new ActivityLink(context));
                    }
                }
            }
            using (var activity = NatsTelemetry.Source.StartActivity($"{Topics.Storage} commit", ActivityKind.Consumer, parent, links: links))
            {
                activity?.SetTag("messaging.system", "nats");
                activity?.SetTag("messaging.destination.name", nats.Names.StorageSubject);
                activity?.SetTag("messaging.batch.message_count", messages.Count);
                activity?.SetTag("m2m.storage.records", records.Count);
                await CommitAsync(records, messages, cancellationToken);
            }
            foreach (var msg in messages)
            {
                // Fire-and-forget acknowledgements: a lost one only means a harmless redelivery.
                await msg.AckAsync(cancellationToken: cancellationToken);
            }
            if (options.Value.PublishCommittedRecords && records.Count > 0)
            {
                await PublishCommittedAsync(messages, cancellationToken);
            }
            Interlocked.Add(ref _committed, records.Count);
            NatsTelemetry.WriterRecords.Add(records.Count);
        }
    }

    private async Task CommitAsync(List<TimeSeriesRecord> records, List<INatsJSMsg<byte[]>> messages, CancellationToken cancellationToken)
    {
        if (records.Count == 0)
        {
            return;
        }
        var progressAt = Stopwatch.GetTimestamp();
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await store.SaveManyAsync(records, cancellationToken);
                if (Interlocked.Exchange(ref _failing, 0) != 0)
                {
                    logger.LogInformation("Storage writer commits again");
                }
                return;
            }
            catch (StorageValidationException e)
            {
                // A record no backend can take (only a foreign publisher can send one): drop those, keep the rest.
                var before = records.Count;
                records.RemoveAll(r => !IsValid(r));
                NatsTelemetry.WriterPoison.Add(before - records.Count);
                logger.LogError(e, "{Count} invalid records dropped from a storage batch", before - records.Count);
                if (records.Count == before)
                {
                    throw;
                }
            }
            catch (Exception e) when (e is not OutOfMemoryException && !cancellationToken.IsCancellationRequested)
            {
                NatsTelemetry.WriterCommitErrors.Add(1);
                if (Interlocked.Exchange(ref _failing, 1) == 0 || attempt % 20 == 0)
                {
                    logger.LogWarning(e, "Commit of {Count} records failed (attempt {Attempt}); retrying", records.Count, attempt + 1);
                }
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(5000, 100 << Math.Min(attempt, 6))), cancellationToken);
                if (Stopwatch.GetElapsedTime(progressAt) > options.Value.WriterAckWait / 3)
                {
                    // Still ours: keeps JetStream from handing the messages to another writer meanwhile.
                    foreach (var msg in messages)
                    {
                        await msg.AckProgressAsync(cancellationToken: cancellationToken);
                    }
                    progressAt = Stopwatch.GetTimestamp();
                }
            }
        }
    }

    /// <summary>The committed messages' bytes, as they came, on <see cref="Topics.CommittedRecords"/> (API nodes' live streams).</summary>
    private async Task PublishCommittedAsync(List<INatsJSMsg<byte[]>> messages, CancellationToken cancellationToken)
    {
        var subject = nats.Names.Subject(Topics.CommittedRecords);
        try
        {
            foreach (var msg in messages)
            {
                if (msg.Data is { Length: > 0 } data)
                {
                    await nats.Connection.PublishAsync(subject, data, cancellationToken: cancellationToken);
                }
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Live views only: the records are committed and acknowledged either way.
            logger.LogWarning(e, "Publishing committed records failed");
        }
    }

    internal static bool IsValid(TimeSeriesRecord record)
    {
        try
        {
            TimeSeriesLimits.ValidateRecord(record);
            return true;
        }
        catch (StorageValidationException)
        {
            return false;
        }
    }
}
