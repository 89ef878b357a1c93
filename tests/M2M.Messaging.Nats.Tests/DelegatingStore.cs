using M2M.Storage.TimeSeries;

namespace M2M.Messaging.Nats.Tests;

/// <summary>Passes every call to a real store; tests override the calls they observe.</summary>
internal abstract class DelegatingStore(ITimeSeriesStore inner) : ITimeSeriesStore
{
    public virtual ValueTask SaveAsync(TimeSeriesRecord record, CancellationToken cancellationToken = default) => inner.SaveAsync(record, cancellationToken);
    public virtual ValueTask SaveManyAsync(IReadOnlyList<TimeSeriesRecord> records, CancellationToken cancellationToken = default) => inner.SaveManyAsync(records, cancellationToken);
    public virtual ValueTask SaveManyAsync(IReadOnlyList<TimeSeriesRecord> records, IReadOnlyList<M2M.Storage.Forwarding.FeedGroup> feed, CancellationToken cancellationToken = default) => inner.SaveManyAsync(records, feed, cancellationToken);
    public ValueTask<TimeSeriesPage> QueryAsync(TimeSeriesQuery query, CancellationToken cancellationToken = default) => inner.QueryAsync(query, cancellationToken);
    public ValueTask<IReadOnlyList<TimeSeriesRecord>> GetLatestAsync(string id, CancellationToken cancellationToken = default) => inner.GetLatestAsync(id, cancellationToken);
    public ValueTask<IReadOnlyList<TimeSeriesRecord>> GetAsync(string id, string type, DateTimeOffset time, CancellationToken cancellationToken = default) => inner.GetAsync(id, type, time, cancellationToken);
    public ValueTask<int> DeleteAsync(string id, string type, DateTimeOffset time, CancellationToken cancellationToken = default) => inner.DeleteAsync(id, type, time, cancellationToken);
    public ValueTask<bool> DeleteRecordAsync(TimeSeriesRecord record, CancellationToken cancellationToken = default) => inner.DeleteRecordAsync(record, cancellationToken);
    public ValueTask DeleteRangeAsync(string id, string? type, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken = default) => inner.DeleteRangeAsync(id, type, from, to, cancellationToken);
    public ValueTask<long> ExpireRangeAsync(string id, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken = default) => inner.ExpireRangeAsync(id, from, to, cancellationToken);
    public ValueTask<IReadOnlyList<DateOnly>> GetMonthsAsync(CancellationToken cancellationToken = default) => inner.GetMonthsAsync(cancellationToken);
    public ValueTask DropMonthAsync(DateOnly month, CancellationToken cancellationToken = default) => inner.DropMonthAsync(month, cancellationToken);
}
