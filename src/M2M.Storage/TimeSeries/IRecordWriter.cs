namespace M2M.Storage.TimeSeries;

/// <summary>
/// The batch writer: turns a stream of records from many producers into group commits.
/// Records are committed in the order they were accepted. A producer keeps the ticket of its last
/// record and waits for it to learn that everything it wrote before is durable (the delivery
/// barrier); a ticket covers every record accepted before it, from every producer.
/// </summary>
public interface IRecordWriter
{
    /// <summary>
    /// Accepts a record into the bounded queue, waiting while it is full (back-pressure; nothing is
    /// dropped). Returns the record's ticket.
    /// </summary>
    ValueTask<long> WriteAsync(TimeSeriesRecord record, CancellationToken cancellationToken = default);

    /// <summary>Completes once every record up to and including <paramref name="ticket"/> is durably stored.</summary>
    ValueTask WaitDurableAsync(long ticket, CancellationToken cancellationToken = default);

    /// <summary>The highest ticket known durable (0 before the first commit).</summary>
    long DurableTicket { get; }
}
