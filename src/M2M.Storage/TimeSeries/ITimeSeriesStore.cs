namespace M2M.Storage.TimeSeries;

/// <summary>
/// Time series grouped by month. A record's identity is <c>(id, type, time, data)</c>
/// (<see cref="RecordIdentity"/>): saving an identical record again stores it once (idempotent
/// redelivery), records that differ only in data are all kept. Retention drops whole months.
/// </summary>
/// <remarks>
/// Common to every backend (checked by the storage contract tests): ids and types are 1–200 UTF-8
/// bytes without U+0000 and data is at most 1 MiB (<see cref="TimeSeriesLimits"/>); invalid arguments,
/// reversed ranges and limits outside <c>1..<see cref="TimeSeriesQuery.MaxLimit"/></c> throw
/// <see cref="StorageValidationException"/>, a foreign, altered or old-version token
/// <see cref="InvalidContinuationTokenException"/>. Queries order records by time, then by type
/// (ordinal over UTF-8 bytes), then by the content discriminator (<see cref="RecordIdentity.Compare"/>),
/// reversed when newest first; a continuation token (<see cref="ContinuationToken"/>) encodes the
/// position of the last record, so paging neither repeats nor skips records that existed when paging
/// started, even among records of one instant. The latest value of <c>(id, type)</c> is the greatest
/// record in that order: replaced only by a newer record, or at the same instant by a greater
/// discriminator (<see cref="RecordIdentity.Supersedes"/>). Explicit deletions also fix the latest
/// values; dropping a month keeps them.
/// </remarks>
public interface ITimeSeriesStore
{
    /// <summary>Stores one record durably.</summary>
    ValueTask SaveAsync(TimeSeriesRecord record, CancellationToken cancellationToken = default);

    /// <summary>Stores records in one atomic, durable commit.</summary>
    ValueTask SaveManyAsync(IReadOnlyList<TimeSeriesRecord> records, CancellationToken cancellationToken = default);

    /// <summary>
    /// Stores records and appends the forwarding feed entries <paramref name="feed"/> in one atomic,
    /// durable commit (the outbox of <see cref="Forwarding.IForwardingFeed"/>): after a crash, either
    /// both are there or neither.
    /// </summary>
    ValueTask SaveManyAsync(IReadOnlyList<TimeSeriesRecord> records, IReadOnlyList<Forwarding.FeedGroup> feed, CancellationToken cancellationToken = default);

    /// <summary>A page of records of one series, optionally of one type, within <c>[From, To]</c>.</summary>
    ValueTask<TimeSeriesPage> QueryAsync(TimeSeriesQuery query, CancellationToken cancellationToken = default);

    /// <summary>The latest record of each type of a series, without scanning history.</summary>
    ValueTask<IReadOnlyList<TimeSeriesRecord>> GetLatestAsync(string id, CancellationToken cancellationToken = default);

    /// <summary>
    /// Every record of <c>(id, type)</c> at exactly <paramref name="time"/> (100 ns precision), in discriminator
    /// order; empty when there is none. Several records share an instant when their data differ.
    /// </summary>
    ValueTask<IReadOnlyList<TimeSeriesRecord>> GetAsync(string id, string type, DateTimeOffset time, CancellationToken cancellationToken = default);

    /// <summary>Deletes every record of <c>(id, type)</c> at exactly <paramref name="time"/>; returns how many there were.</summary>
    ValueTask<int> DeleteAsync(string id, string type, DateTimeOffset time, CancellationToken cancellationToken = default);

    /// <summary>
    /// Deletes the one record equal to <paramref name="record"/> (id, type, time and data), keeping the other
    /// records of that instant; <c>false</c> when there was none.
    /// </summary>
    ValueTask<bool> DeleteRecordAsync(TimeSeriesRecord record, CancellationToken cancellationToken = default);

    /// <summary>Deletes the records of a series (of one type when <paramref name="type"/> is set) within <c>[from, to]</c>.</summary>
    ValueTask DeleteRangeAsync(string id, string? type, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken = default);

    /// <summary>
    /// Retention of one series: deletes its records (every type) within <c>[from, to]</c> like
    /// <see cref="DeleteRangeAsync"/>, but <b>keeps the latest values</b>, as <see cref="DropMonthAsync"/> does
    /// (a device silent for longer than its retention still shows its last known state). Returns how many
    /// records were deleted. Used where whole months cannot be dropped (a domain's shorter retention).
    /// </summary>
    ValueTask<long> ExpireRangeAsync(string id, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken = default);

    /// <summary>The months that hold data, oldest first (a month stays listed until dropped, even when its records were deleted one by one).</summary>
    ValueTask<IReadOnlyList<DateOnly>> GetMonthsAsync(CancellationToken cancellationToken = default);

    /// <summary>Drops every record of a month at once (retention). <paramref name="month"/>'s day is ignored.</summary>
    ValueTask DropMonthAsync(DateOnly month, CancellationToken cancellationToken = default);
}

/// <summary>A time-series query. <see cref="Continuation"/> is the opaque token of the previous page.</summary>
public sealed record TimeSeriesQuery(
    string Id,
    string? Type = null,
    DateTimeOffset? From = null,
    DateTimeOffset? To = null,
    bool Descending = true,
    int Limit = 100,
    string? Continuation = null)
{
    public const int MaxLimit = 10_000;
}

/// <summary>A page of records and the token of the next page (<c>null</c> on the last page).</summary>
public sealed record TimeSeriesPage(IReadOnlyList<TimeSeriesRecord> Items, string? Continuation);
