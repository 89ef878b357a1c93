using M2M.Storage.TimeSeries;

namespace M2M.Messaging.InProcess;

/// <summary>
/// The single-node <c>storage</c> topic: records go straight into the batch writer's bounded queue,
/// and the barrier is the writer's durability ticket.
/// </summary>
public sealed class InProcessRecordBus(IRecordWriter writer) : RecordWriterBus(writer);

/// <summary>
/// A <c>storage</c> topic over any <see cref="IRecordWriter"/>: each producer keeps the ticket of its
/// last record, and its barrier waits until the writer reports that ticket durable. The in-process
/// bus uses the batch writer (durable = committed); a broker's bus uses a writer whose tickets become
/// durable when the broker acknowledges them.
/// </summary>
public class RecordWriterBus(IRecordWriter writer) : IRecordBus
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
