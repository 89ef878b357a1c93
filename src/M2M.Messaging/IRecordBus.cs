using M2M.Storage.TimeSeries;

namespace M2M.Messaging;

/// <summary>
/// The durable <c>storage</c> topic. Each producer (a device connection) gets its own
/// <see cref="IRecordPublisher"/>, which knows what it sent and can wait for all of it to be durable.
/// </summary>
public interface IRecordBus
{
    IRecordPublisher CreatePublisher();
}

/// <summary>One producer's side of the <c>storage</c> topic. Not thread-safe: one connection uses it.</summary>
public interface IRecordPublisher
{
    /// <summary>
    /// Hands a record to the topic, in order. May wait when the topic is saturated (back-pressure
    /// on this producer); never drops.
    /// </summary>
    ValueTask PublishAsync(TimeSeriesRecord record, CancellationToken cancellationToken = default);

    /// <summary>
    /// The delivery barrier: completes once every record published before the call is durable
    /// (committed single-node, acknowledged by the broker distributed).
    /// </summary>
    ValueTask FlushAsync(CancellationToken cancellationToken = default);

    /// <summary>Records published by this producer.</summary>
    long Published { get; }
}
