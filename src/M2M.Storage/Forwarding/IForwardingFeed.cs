using M2M.Storage.TimeSeries;

namespace M2M.Storage.Forwarding;

/// <summary>
/// The forwarding feed (outbox): per domain, a durable, ordered log of what the domain's webhook
/// endpoints are to receive. Records enter it in the same atomic commit as the time series
/// (<see cref="ITimeSeriesStore.SaveManyAsync(IReadOnlyList{TimeSeriesRecord}, IReadOnlyList{FeedGroup}, CancellationToken)"/>),
/// so a record is either stored and queued for forwarding, or neither. Items of a domain are numbered
/// 1, 2, 3… in commit order (the sequence never goes back, even after the feed is trimmed empty).
/// Each endpoint keeps a durable cursor; items every endpoint of a domain has passed are trimmed.
/// </summary>
/// <remarks>Layout per engine: <c>docs/storage-layout.md</c> (RocksDB), the PostgreSQL schema document.</remarks>
public interface IForwardingFeed
{
    /// <summary>Appends groups in one durable commit of their own (events, which are not records).</summary>
    ValueTask AppendAsync(IReadOnlyList<FeedGroup> groups, CancellationToken cancellationToken = default);

    /// <summary>Up to <paramref name="maxItems"/> items of <paramref name="domain"/> with a sequence above <paramref name="after"/>, in order.</summary>
    ValueTask<IReadOnlyList<FeedItem>> ReadAsync(Guid domain, long after, int maxItems, CancellationToken cancellationToken = default);

    /// <summary>The sequence of the last item appended for <paramref name="domain"/> (0 when none ever was).</summary>
    ValueTask<long> GetLastSequenceAsync(Guid domain, CancellationToken cancellationToken = default);

    /// <summary>The domains that have items in the feed or a sequence (for trimming).</summary>
    ValueTask<IReadOnlyList<Guid>> GetDomainsAsync(CancellationToken cancellationToken = default);

    /// <summary>Removes the items of <paramref name="domain"/> up to and including <paramref name="upTo"/> (whole entries; an entry that also holds later items stays).</summary>
    ValueTask TrimAsync(Guid domain, long upTo, CancellationToken cancellationToken = default);

    /// <summary>The cursor of an endpoint, or <c>null</c> when it has none.</summary>
    ValueTask<FeedCursor?> GetCursorAsync(Guid endpoint, CancellationToken cancellationToken = default);

    /// <summary>Stores the cursor of an endpoint durably.</summary>
    ValueTask SetCursorAsync(Guid endpoint, FeedCursor cursor, CancellationToken cancellationToken = default);

    /// <summary>Removes the cursor of an endpoint (the endpoint was deleted).</summary>
    ValueTask DeleteCursorAsync(Guid endpoint, CancellationToken cancellationToken = default);
}

/// <summary>What a feed item carries.</summary>
public enum FeedItemKind : byte
{
    /// <summary>A time-series record (lifecycle <c>_server</c> records included), queued atomically with its commit.</summary>
    Record = 1,

    /// <summary>
    /// A bus event (<c>setting_acknowledged</c>, <c>command_acknowledged</c>, …): <see cref="FeedItem.Item"/>
    /// holds the device's series id, the event's call as type, its time, and its fields as JSON data.
    /// </summary>
    Event = 2,
}

/// <summary>One item of the feed and its sequence in its domain.</summary>
public readonly record struct FeedItem(long Sequence, FeedItemKind Kind, TimeSeriesRecord Item);

/// <summary>
/// Items for one domain, packed by <see cref="FeedCodec"/>, to be appended as one feed entry (one
/// key or row): the engine gives them the next <see cref="Count"/> sequences of the domain.
/// </summary>
public sealed record FeedGroup(Guid Domain, int Count, byte[] Payload);

/// <summary>
/// An endpoint's position in its domain's feed: every item up to <see cref="Delivered"/> was
/// acknowledged by the receiver; <see cref="InFlightEnd"/>, when above it, is the last item of the
/// batch being delivered (kept so that the batch — and its delivery id — is the same after a restart).
/// </summary>
public readonly record struct FeedCursor(long Delivered, long InFlightEnd);

/// <summary>
/// Decides which records of a commit enter the forwarding feed, and for which domain. The batch
/// writer asks it before each commit and hands the groups to the store with the records.
/// </summary>
public interface IFeedRouter
{
    /// <summary>
    /// The feed groups for <paramref name="records"/> (records of devices whose domain has an endpoint
    /// taking records), or <c>null</c> when none is forwarded.
    /// </summary>
    ValueTask<IReadOnlyList<FeedGroup>?> RouteAsync(IReadOnlyList<TimeSeriesRecord> records, CancellationToken cancellationToken = default);
}
