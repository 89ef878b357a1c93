using M2M.Storage.TimeSeries;

namespace M2M.Messaging.InProcess;

/// <summary>
/// The single-node <c>storage</c> topic: records go straight into the batch writer's bounded queue,
/// and the barrier is the writer's durability ticket.
/// </summary>
public sealed class InProcessRecordBus(IRecordWriter writer) : IRecordBus
{
    public IRecordPublisher CreatePublisher() => new Publisher(writer);

    private sealed class Publisher(IRecordWriter writer) : IRecordPublisher
    {
        private long _lastTicket;

        public long Published { get; private set; }

        public async ValueTask PublishAsync(TimeSeriesRecord record, CancellationToken cancellationToken = default)
        {
            _lastTicket = await writer.WriteAsync(record, cancellationToken);
            Published++;
            BusMetrics.RecordsPublished.Add(1);
        }

        public ValueTask FlushAsync(CancellationToken cancellationToken = default) =>
            _lastTicket == 0 ? ValueTask.CompletedTask : writer.WaitDurableAsync(_lastTicket, cancellationToken);
    }
}
