using System.Collections.Concurrent;
using M2M.Storage.Forwarding;
using M2M.Storage.TimeSeries;
using Npgsql;
using NpgsqlTypes;

namespace M2M.Storage.Postgres.TimeSeries;

// Batch writes: one transaction and one commit per SaveManyAsync, whatever the method.
public sealed partial class PostgresTimeSeriesStore
{
    private const string StageTable = "pg_temp.m2m_ts_stage";

    /// <summary>Connections that hold the staging table of the COPY method, kept open between batches.</summary>
    private readonly ConcurrentBag<NpgsqlConnection> _copyConnections = [];

    public ValueTask SaveAsync(TimeSeriesRecord record, CancellationToken cancellationToken = default) =>
        SaveManyAsync([record], cancellationToken);

    /// <summary>
    /// This backend has no forwarding feed yet (<c>docs/forwarding.md</c>): the server composes forwarding only
    /// on a backend that registers one, so feed entries never reach it; if they do, the batch is refused whole.
    /// </summary>
    public ValueTask SaveManyAsync(IReadOnlyList<TimeSeriesRecord> records, IReadOnlyList<FeedGroup> feed, CancellationToken cancellationToken = default) =>
        feed.Count == 0
            ? SaveManyAsync(records, cancellationToken)
            : ValueTask.FromException(new NotSupportedException("The PostgreSQL backend has no forwarding feed: forwarding runs on the RocksDB backend only."));

    public async ValueTask SaveManyAsync(IReadOnlyList<TimeSeriesRecord> records, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(records);
        for (var i = 0; i < records.Count; i++)
        {
            TimeSeriesLimits.ValidateRecord(records[i]);
        }
        if (records.Count == 0)
        {
            return;
        }
        var batch = PreparedBatch.From(records);
        for (var attempt = 1; ; attempt++)
        {
            await _store.Partitions.EnsureAsync(batch.Months, cancellationToken).ConfigureAwait(false);
            try
            {
                await PgRetry.RunAsync(
                    ct => _store.Options.BatchMethod == PostgresBatchMethod.Copy ? WriteByCopyAsync(batch, ct) : WriteByUnnestAsync(batch, ct),
                    cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.CheckViolation && attempt < 5)
            {
                // "no partition of relation ts found for row": another process dropped a month this process
                // still knew. Nothing was written (one transaction): ensure the partitions again and retry.
                _store.Partitions.Forget(batch.Months);
            }
        }
    }

    /// <summary>Records, month index and latest values in one batch of statements: one round trip, one implicit transaction.</summary>
    private async ValueTask WriteByUnnestAsync(PreparedBatch batch, CancellationToken cancellationToken)
    {
        await using var connection = await _store.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlBatch(connection);
        var insert = new NpgsqlBatchCommand(_sql.InsertUnnest);
        insert.Parameters.Add(TextArray(batch.Ids));
        insert.Parameters.Add(BigintArray(batch.Times));
        insert.Parameters.Add(TextArray(batch.Types));
        insert.Parameters.Add(BigintArray(batch.Hashes));
        insert.Parameters.Add(TextArray(batch.Data));
        command.BatchCommands.Add(insert);
        AddIndexAndLatest(command, batch);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Binary COPY into the connection's staging table, then one INSERT … SELECT, in an explicit transaction.</summary>
    private async ValueTask WriteByCopyAsync(PreparedBatch batch, CancellationToken cancellationToken)
    {
        var connection = await RentCopyConnectionAsync(cancellationToken).ConfigureAwait(false);
        var healthy = false;
        try
        {
            await using (var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false))
            {
                await using (var importer = await connection.BeginBinaryImportAsync(
                    $"COPY {StageTable} (id, time, type, hash, data) FROM STDIN (FORMAT BINARY)", cancellationToken).ConfigureAwait(false))
                {
                    for (var i = 0; i < batch.Ids.Length; i++)
                    {
                        await importer.StartRowAsync(cancellationToken).ConfigureAwait(false);
                        await importer.WriteAsync(batch.Ids[i], NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
                        await importer.WriteAsync(batch.Times[i], NpgsqlDbType.Bigint, cancellationToken).ConfigureAwait(false);
                        await importer.WriteAsync(batch.Types[i], NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
                        await importer.WriteAsync(batch.Hashes[i], NpgsqlDbType.Bigint, cancellationToken).ConfigureAwait(false);
                        await importer.WriteAsync(batch.Data[i], NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
                    }
                    await importer.CompleteAsync(cancellationToken).ConfigureAwait(false);
                }
                await using var command = new NpgsqlBatch(connection, transaction);
                command.BatchCommands.Add(new NpgsqlBatchCommand(_sql.InsertFromStage));
                AddIndexAndLatest(command, batch);
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                // The staging table is ON COMMIT DELETE ROWS: the commit also empties it.
                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            }
            healthy = true;
        }
        catch (PostgresException)
        {
            // A statement failed, the connection itself is fine (the transaction was rolled back).
            healthy = connection.FullState == System.Data.ConnectionState.Open;
            throw;
        }
        finally
        {
            if (healthy)
            {
                _copyConnections.Add(connection);
            }
            else
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private async ValueTask<NpgsqlConnection> RentCopyConnectionAsync(CancellationToken cancellationToken)
    {
        if (_copyConnections.TryTake(out var kept))
        {
            return kept;
        }
        var connection = await _store.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var create = new NpgsqlCommand(
                $"CREATE TEMP TABLE IF NOT EXISTS m2m_ts_stage (id text COLLATE \"C\", time bigint, type text COLLATE \"C\", hash bigint, data text) ON COMMIT DELETE ROWS",
                connection);
            await create.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private void AddIndexAndLatest(NpgsqlBatch command, PreparedBatch batch)
    {
        var months = new NpgsqlBatchCommand(_sql.InsertMonths);
        months.Parameters.Add(new NpgsqlParameter<int[]> { TypedValue = [.. batch.Months], NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Integer });
        command.BatchCommands.Add(months);
        var latest = new NpgsqlBatchCommand(_sql.UpsertLatest);
        latest.Parameters.Add(TextArray(batch.LatestIds));
        latest.Parameters.Add(TextArray(batch.LatestTypes));
        latest.Parameters.Add(BigintArray(batch.LatestTimes));
        latest.Parameters.Add(BigintArray(batch.LatestHashes));
        latest.Parameters.Add(TextArray(batch.LatestData));
        command.BatchCommands.Add(latest);
    }

    private static NpgsqlParameter TextArray(string[] values) =>
        new NpgsqlParameter<string[]> { TypedValue = values, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text };

    private static NpgsqlParameter BigintArray(long[] values) =>
        new NpgsqlParameter<long[]> { TypedValue = values, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bigint };

    public async ValueTask DisposeAsync()
    {
        while (_copyConnections.TryTake(out var connection))
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// A batch as columns, in key order (id, time, type, hash) without duplicates — so that concurrent
    /// writers of overlapping batches take their row locks in one order — with its months and the
    /// newest record of each (id, type), also in key order.
    /// </summary>
    private sealed class PreparedBatch
    {
        public required string[] Ids { get; init; }
        public required long[] Times { get; init; }
        public required string[] Types { get; init; }
        public required long[] Hashes { get; init; }
        public required string[] Data { get; init; }
        public required List<int> Months { get; init; }
        public required string[] LatestIds { get; init; }
        public required string[] LatestTypes { get; init; }
        public required long[] LatestTimes { get; init; }
        public required long[] LatestHashes { get; init; }
        public required string[] LatestData { get; init; }

        public static PreparedBatch From(IReadOnlyList<TimeSeriesRecord> records)
        {
            var n = records.Count;
            var hashes = new long[n];
            var order = new int[n];
            for (var i = 0; i < n; i++)
            {
                hashes[i] = RecordIdentity.Discriminator(records[i].Data);
                order[i] = i;
            }
            Array.Sort(order, (a, b) =>
            {
                var x = records[a];
                var y = records[b];
                var c = string.CompareOrdinal(x.Id, y.Id);
                if (c == 0)
                {
                    c = x.Time.UtcTicks.CompareTo(y.Time.UtcTicks);
                }
                if (c == 0)
                {
                    c = string.CompareOrdinal(x.Type, y.Type);
                }
                return c != 0 ? c : hashes[a].CompareTo(hashes[b]);
            });

            var ids = new List<string>(n);
            var times = new List<long>(n);
            var types = new List<string>(n);
            var keys = new List<long>(n);
            var data = new List<string>(n);
            var months = new List<int>();
            var newest = new Dictionary<(string Id, string Type), int>();
            var monthStart = long.MaxValue;
            var monthEnd = long.MinValue;
            foreach (var i in order)
            {
                var record = records[i];
                var ticks = record.Time.UtcTicks;
                var last = ids.Count - 1;
                if (last >= 0 && ticks == times[last] && hashes[i] == keys[last] && record.Id == ids[last] && record.Type == types[last])
                {
                    continue; // the same record twice in one batch: stored once
                }
                ids.Add(record.Id);
                times.Add(ticks);
                types.Add(record.Type);
                keys.Add(hashes[i]);
                data.Add(record.Data);
                if (ticks < monthStart || ticks >= monthEnd)
                {
                    var month = MonthPartitions.MonthOf(ticks);
                    (monthStart, monthEnd) = MonthPartitions.Bounds(month);
                    if (!months.Contains(month))
                    {
                        months.Add(month);
                    }
                }
                // Rows come in time order per (id, type): the last one seen is the newest, and at one
                // instant the one with the greatest hash.
                newest[(record.Id, record.Type)] = ids.Count - 1;
            }

            var latest = newest.OrderBy(e => e.Key.Id, StringComparer.Ordinal).ThenBy(e => e.Key.Type, StringComparer.Ordinal).Select(e => e.Value).ToArray();
            return new PreparedBatch
            {
                Ids = [.. ids],
                Times = [.. times],
                Types = [.. types],
                Hashes = [.. keys],
                Data = [.. data],
                Months = months,
                LatestIds = [.. latest.Select(i => ids[i])],
                LatestTypes = [.. latest.Select(i => types[i])],
                LatestTimes = [.. latest.Select(i => times[i])],
                LatestHashes = [.. latest.Select(i => keys[i])],
                LatestData = [.. latest.Select(i => data[i])],
            };
        }
    }
}
