using M2M.Storage.TimeSeries;
using Npgsql;

namespace M2M.Storage.Postgres.TimeSeries;

/// <summary>
/// Time series in PostgreSQL: <c>ts</c> partitioned by month (<see cref="MonthPartitions"/>), keyed
/// <c>(id, time, type, hash)</c> with a second index <c>(id, type, time, hash)</c> for queries of one
/// type; <c>ts_latest</c> keeps the latest record of each (id, type); <c>ts_month</c> lists the months
/// that received records. Layout and reasons: <c>docs/storage-layout.md</c> (PostgreSQL).
/// </summary>
/// <remarks>
/// Every write is one transaction. Concurrent writers (threads or processes) need no lock of their own:
/// records are inserted with <c>ON CONFLICT DO NOTHING</c> (an identical record is stored once) and the
/// latest value is an upsert that only a greater <c>(time, hash)</c> changes. Explicit deletions fix the
/// latest values in their transaction; dropping a month keeps them (a device's last known state).
/// </remarks>
public sealed partial class PostgresTimeSeriesStore : ITimeSeriesStore, IAsyncDisposable
{
    private readonly PostgresStore _store;
    private readonly Sql _sql;

    public PostgresTimeSeriesStore(PostgresStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
        _sql = new Sql(store);
    }

    public async ValueTask<TimeSeriesPage> QueryAsync(TimeSeriesQuery query, CancellationToken cancellationToken = default)
    {
        TimeSeriesLimits.ValidateQuery(query);
        var resume = ContinuationToken.Decode(query);
        var from = query.From?.UtcTicks ?? 0;
        var to = query.To?.UtcTicks ?? DateTimeOffset.MaxValue.UtcTicks;
        var typed = query.Type is not null;

        await using var command = _store.DataSource.CreateCommand(_sql.Query(typed, query.Descending, resume is not null));
        command.Parameters.Add(new NpgsqlParameter { Value = query.Id });
        if (typed)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = query.Type });
        }
        command.Parameters.Add(new NpgsqlParameter { Value = from });
        command.Parameters.Add(new NpgsqlParameter { Value = to });
        command.Parameters.Add(new NpgsqlParameter { Value = query.Limit + 1 });
        if (resume is { } position)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = position.Ticks });
            if (!typed)
            {
                command.Parameters.Add(new NpgsqlParameter { Value = position.Type });
            }
            command.Parameters.Add(new NpgsqlParameter { Value = position.Discriminator });
        }

        var items = new List<TimeSeriesRecord>(Math.Min(query.Limit, 1024));
        long lastHash = 0;
        var more = false;
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                if (items.Count == query.Limit)
                {
                    // The extra row (limit + 1) only tells that there is a next page.
                    more = true;
                    break;
                }
                items.Add(new TimeSeriesRecord(query.Id, typed ? query.Type! : reader.GetString(1), Time(reader.GetInt64(0)), reader.GetString(3)));
                lastHash = reader.GetInt64(2);
            }
        }
        var continuation = more
            ? ContinuationToken.Encode(query, new TimeSeriesPosition(items[^1].Time.UtcTicks, items[^1].Type, lastHash))
            : null;
        return new TimeSeriesPage(items, continuation);
    }

    public async ValueTask<IReadOnlyList<TimeSeriesRecord>> GetLatestAsync(string id, CancellationToken cancellationToken = default)
    {
        TimeSeriesLimits.ValidateId(id);
        await using var command = _store.DataSource.CreateCommand(_sql.Latest);
        command.Parameters.Add(new NpgsqlParameter { Value = id });
        var result = new List<TimeSeriesRecord>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            result.Add(new TimeSeriesRecord(id, reader.GetString(0), Time(reader.GetInt64(1)), reader.GetString(2)));
        }
        return result;
    }

    public async ValueTask<IReadOnlyList<TimeSeriesRecord>> GetAsync(string id, string type, DateTimeOffset time, CancellationToken cancellationToken = default)
    {
        TimeSeriesLimits.ValidateId(id);
        TimeSeriesLimits.ValidateType(type);
        await using var command = _store.DataSource.CreateCommand(_sql.GetInstant);
        command.Parameters.Add(new NpgsqlParameter { Value = id });
        command.Parameters.Add(new NpgsqlParameter { Value = time.UtcTicks });
        command.Parameters.Add(new NpgsqlParameter { Value = type });
        var result = new List<TimeSeriesRecord>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            result.Add(new TimeSeriesRecord(id, type, Time(time.UtcTicks), reader.GetString(0)));
        }
        return result;
    }

    public ValueTask<int> DeleteAsync(string id, string type, DateTimeOffset time, CancellationToken cancellationToken = default)
    {
        TimeSeriesLimits.ValidateId(id);
        TimeSeriesLimits.ValidateType(type);
        return DeleteRangeCoreAsync(id, type, time.UtcTicks, time.UtcTicks, null, cancellationToken);
    }

    public async ValueTask<bool> DeleteRecordAsync(TimeSeriesRecord record, CancellationToken cancellationToken = default)
    {
        TimeSeriesLimits.ValidateRecord(record);
        var ticks = record.Time.UtcTicks;
        return await DeleteRangeCoreAsync(record.Id, record.Type, ticks, ticks, RecordIdentity.Discriminator(record.Data), cancellationToken).ConfigureAwait(false) > 0;
    }

    public async ValueTask DeleteRangeAsync(string id, string? type, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken = default)
    {
        TimeSeriesLimits.ValidateId(id);
        if (type is not null)
        {
            TimeSeriesLimits.ValidateType(type);
        }
        TimeSeriesLimits.ValidateRange(from, to);
        await DeleteRangeCoreAsync(id, type, from.UtcTicks, to.UtcTicks, null, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<long> ExpireRangeAsync(string id, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken = default)
    {
        TimeSeriesLimits.ValidateId(id);
        TimeSeriesLimits.ValidateRange(from, to);
        // Retention keeps the latest values (as dropping a month does): the records go, ts_latest stays.
        return await PgRetry.RunAsync(async ct =>
        {
            await using var delete = _store.DataSource.CreateCommand(_sql.DeleteRange);
            AddSeriesRange(delete, id, null, from.UtcTicks, to.UtcTicks, null);
            return (long)await delete.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Deletes the records of <c>[from, to]</c> and, in the same transaction, replaces each latest value
    /// that lay in the range by the newest remaining record of its type (or removes it). The latest rows
    /// are locked after the records are deleted, the order writers use too (records, then latest values).
    /// With <paramref name="hash"/> (one record: <paramref name="type"/> set, <c>from = to</c>), only that record goes.
    /// </summary>
    private ValueTask<int> DeleteRangeCoreAsync(string id, string? type, long from, long to, long? hash, CancellationToken cancellationToken) =>
        PgRetry.RunAsync(async ct =>
        {
            await using var connection = await _store.DataSource.OpenConnectionAsync(ct).ConfigureAwait(false);
            await using var transaction = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
            int deleted;
            await using (var delete = new NpgsqlCommand(type is null ? _sql.DeleteRange : hash is null ? _sql.DeleteTypedRange : _sql.DeleteOne, connection, transaction))
            {
                AddSeriesRange(delete, id, type, from, to, hash);
                deleted = await delete.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
            // Even when no record was left in the range, a latest value may still lie in it (its records
            // expired by ExpireRangeAsync, which keeps latest values): it is replaced or removed too.
            var stale = new List<string>();
            await using (var latest = new NpgsqlCommand(type is null ? _sql.LockLatestInRange : hash is null ? _sql.LockTypedLatestInRange : _sql.LockLatestIfOne, connection, transaction))
            {
                AddSeriesRange(latest, id, type, from, to, hash);
                await using var reader = await latest.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    stale.Add(reader.GetString(0));
                }
            }
            foreach (var staleType in stale)
            {
                await using var fix = new NpgsqlBatch(connection, transaction)
                {
                    BatchCommands = { new NpgsqlBatchCommand(_sql.ReplaceLatest), new NpgsqlBatchCommand(_sql.RemoveLatestIfNone) },
                };
                foreach (var command in fix.BatchCommands)
                {
                    command.Parameters.Add(new NpgsqlParameter { Value = id });
                    command.Parameters.Add(new NpgsqlParameter { Value = staleType });
                }
                await fix.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
            await transaction.CommitAsync(ct).ConfigureAwait(false);
            return deleted;
        }, cancellationToken);

    private static void AddSeriesRange(NpgsqlCommand command, string id, string? type, long from, long to, long? hash)
    {
        command.Parameters.Add(new NpgsqlParameter { Value = id });
        command.Parameters.Add(new NpgsqlParameter { Value = from });
        command.Parameters.Add(new NpgsqlParameter { Value = to });
        if (type is not null)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = type });
        }
        if (hash is { } h)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = h });
        }
    }

    public async ValueTask<IReadOnlyList<DateOnly>> GetMonthsAsync(CancellationToken cancellationToken = default)
    {
        await using var command = _store.DataSource.CreateCommand($"SELECT month FROM {_store.SeriesMonths} ORDER BY month");
        var months = new List<DateOnly>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            months.Add(MonthPartitions.ToDate(reader.GetInt32(0)));
        }
        return months;
    }

    public ValueTask DropMonthAsync(DateOnly month, CancellationToken cancellationToken = default) =>
        _store.Partitions.DropAsync(MonthPartitions.MonthOf(month), cancellationToken);

    private static DateTimeOffset Time(long ticks) => new(ticks, TimeSpan.Zero);

    /// <summary>The statements of the store, built once for its schema.</summary>
    private sealed class Sql(PostgresStore s)
    {
        private readonly string[] _queries = BuildQueries(s);

        public string InsertUnnest { get; } =
            $"INSERT INTO {s.Series} (id, time, type, hash, data) SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::text[]) ON CONFLICT DO NOTHING";

        public string InsertFromStage { get; } =
            $"INSERT INTO {s.Series} (id, time, type, hash, data) SELECT id, time, type, hash, data FROM {StageTable} ON CONFLICT DO NOTHING";

        public string InsertMonths { get; } = $"INSERT INTO {s.SeriesMonths} (month) SELECT unnest($1::integer[]) ON CONFLICT DO NOTHING";

        public string UpsertLatest { get; } = $"""
            INSERT INTO {s.SeriesLatest} AS l (id, type, time, hash, data)
            SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::text[])
            ON CONFLICT (id, type) DO UPDATE SET time = EXCLUDED.time, hash = EXCLUDED.hash, data = EXCLUDED.data
            WHERE (l.time, l.hash) < (EXCLUDED.time, EXCLUDED.hash)
            """;

        public string Latest { get; } = $"SELECT type, time, data FROM {s.SeriesLatest} WHERE id = $1 ORDER BY type";

        public string GetInstant { get; } = $"SELECT data FROM {s.Series} WHERE id = $1 AND time = $2 AND type = $3 ORDER BY hash";

        public string DeleteRange { get; } = $"DELETE FROM {s.Series} WHERE id = $1 AND time >= $2 AND time <= $3";

        public string DeleteTypedRange { get; } = $"DELETE FROM {s.Series} WHERE id = $1 AND time >= $2 AND time <= $3 AND type = $4";

        public string DeleteOne { get; } = $"DELETE FROM {s.Series} WHERE id = $1 AND time >= $2 AND time <= $3 AND type = $4 AND hash = $5";

        /// <summary>The latest value of one (id, type) when it is the deleted record ($2 = $3 its time, $5 its hash).</summary>
        public string LockLatestIfOne { get; } =
            $"SELECT type FROM {s.SeriesLatest} WHERE id = $1 AND time >= $2 AND time <= $3 AND type = $4 AND hash = $5 FOR UPDATE";

        public string LockLatestInRange { get; } =
            $"SELECT type FROM {s.SeriesLatest} WHERE id = $1 AND time >= $2 AND time <= $3 ORDER BY type FOR UPDATE";

        public string LockTypedLatestInRange { get; } =
            $"SELECT type FROM {s.SeriesLatest} WHERE id = $1 AND time >= $2 AND time <= $3 AND type = $4 FOR UPDATE";

        public string ReplaceLatest { get; } = $"""
            UPDATE {s.SeriesLatest} AS l SET time = n.time, hash = n.hash, data = n.data
            FROM (SELECT time, hash, data FROM {s.Series} WHERE id = $1 AND type = $2 ORDER BY time DESC, hash DESC LIMIT 1) AS n
            WHERE l.id = $1 AND l.type = $2
            """;

        public string RemoveLatestIfNone { get; } =
            $"DELETE FROM {s.SeriesLatest} WHERE id = $1 AND type = $2 AND NOT EXISTS (SELECT 1 FROM {s.Series} WHERE id = $1 AND type = $2)";

        /// <summary>A page query: <c>$1</c> id, (<c>$2</c> type,) from, to, limit, then the resume position.</summary>
        public string Query(bool typed, bool descending, bool resume) =>
            _queries[(typed ? 4 : 0) + (descending ? 2 : 0) + (resume ? 1 : 0)];

        private static string[] BuildQueries(PostgresStore s)
        {
            var queries = new string[8];
            for (var i = 0; i < 8; i++)
            {
                var typed = (i & 4) != 0;
                var descending = (i & 2) != 0;
                var resume = (i & 1) != 0;
                var direction = descending ? " DESC" : "";
                var after = descending ? "<" : ">";
                queries[i] = typed
                    ? $"SELECT time, NULL, hash, data FROM {s.Series} WHERE id = $1 AND type = $2 AND time >= $3 AND time <= $4"
                        + (resume ? $" AND (time, hash) {after} ($6, $7)" : "")
                        + $" ORDER BY time{direction}, hash{direction} LIMIT $5"
                    : $"SELECT time, type, hash, data FROM {s.Series} WHERE id = $1 AND time >= $2 AND time <= $3"
                        + (resume ? $" AND (time, type, hash) {after} ($5, $6, $7)" : "")
                        + $" ORDER BY time{direction}, type{direction}, hash{direction} LIMIT $4";
            }
            return queries;
        }
    }
}
