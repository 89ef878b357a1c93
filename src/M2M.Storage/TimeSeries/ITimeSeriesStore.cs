namespace M2M.Storage.TimeSeries;

/// <summary>
/// Time series grouped by month. Writes are idempotent on <c>(id, type, time)</c>; retention drops
/// whole months.
/// </summary>
/// <remarks>
/// Common to every backend (checked by the storage contract tests): ids and types are 1–200 UTF-8
/// bytes without U+0000 and data is at most 1 MiB (<see cref="TimeSeriesLimits"/>); invalid arguments,
/// reversed ranges and limits outside <c>1..<see cref="TimeSeriesQuery.MaxLimit"/></c> throw
/// <see cref="StorageValidationException"/>, a foreign or altered token
/// <see cref="InvalidContinuationTokenException"/>. Queries order records by time, then by type
/// (ordinal), reversed when newest first; a continuation token encodes the position of the last
/// record, so paging neither repeats nor skips records that existed when paging started. Explicit
/// deletions also fix the latest values; dropping a month keeps them.
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

    /// <summary>One record, or <c>null</c>.</summary>
    ValueTask<TimeSeriesRecord?> GetAsync(string id, string type, DateTimeOffset time, CancellationToken cancellationToken = default);

    /// <summary>Deletes one record; <c>false</c> when there was none.</summary>
    ValueTask<bool> DeleteAsync(string id, string type, DateTimeOffset time, CancellationToken cancellationToken = default);

    /// <summary>Deletes the records of a series (of one type when <paramref name="type"/> is set) within <c>[from, to]</c>.</summary>
    ValueTask DeleteRangeAsync(string id, string? type, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken = default);

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
