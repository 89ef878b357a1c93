using M2M.Storage.TimeSeries;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using NATS.Client.Core;

namespace M2M.Messaging.Nats;

/// <summary>
/// On an API node: the records the storage writers committed (<see cref="Topics.CommittedRecords"/>),
/// handed to this node's <see cref="ICommittedRecordsListener"/> (the live streams and the fleet map)
/// as if they had been committed here. Not durable: a record published while this node was away is
/// not replayed (live views re-read the store when they reconnect). Records the writer would refuse
/// are left out, as it left them out of the store.
/// </summary>
public sealed partial class CommittedRecordsFeed(NatsInfrastructure nats, IServiceProvider services, ILogger<CommittedRecordsFeed> logger) : BackgroundService
{
    private long _records;

    /// <summary>Records handed on so far.</summary>
    public long Records => Interlocked.Read(ref _records);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (services.GetService<ICommittedRecordsListener>() is not { } listener)
        {
            return;
        }
        var subject = nats.Names.Subject(Topics.CommittedRecords);
        var records = new List<TimeSeriesRecord>();
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await foreach (var msg in nats.Connection.SubscribeAsync<byte[]>(subject, cancellationToken: stoppingToken))
                {
                    records.Clear();
                    StorageBatchCodec.Read(msg.Data ?? [], records, out _);
                    records.RemoveAll(r => !StorageWriterService.IsValid(r));
                    if (records.Count > 0)
                    {
                        listener.Stored(records);
                        Interlocked.Add(ref _records, records.Count);
                    }
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                LogFeedFailed(logger, e);
                await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Committed records feed failed; subscribing again")]
    private static partial void LogFeedFailed(ILogger logger, Exception exception);
}
