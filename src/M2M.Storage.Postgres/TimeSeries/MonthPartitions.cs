using System.Collections.Concurrent;
using System.Globalization;
using Npgsql;

namespace M2M.Storage.Postgres.TimeSeries;

/// <summary>
/// The monthly range partitions of <c>ts</c>: <c>ts_pYYYYMM</c> holds the records whose time (UTC ticks)
/// lies in <c>[first tick of the month, first tick of the next month)</c>. Partitions are created ahead
/// of time (this month and the next few, by <see cref="EnsureAheadAsync"/>) and on demand before a batch
/// that holds records of a month without one (late or early data). Creation and removal take an
/// advisory lock of the schema, so writers of several processes that need the same month at once
/// create it once. The months known to exist are cached per process; a month dropped by another
/// process is noticed when an insert finds no partition (the batch then ensures it and runs again).
/// </summary>
internal sealed class MonthPartitions(PostgresStore store)
{
    private readonly ConcurrentDictionary<int, bool> _known = new();

    /// <summary>The month of a time in UTC ticks, as <c>yyyymm</c>.</summary>
    public static int MonthOf(long ticks)
    {
        var date = new DateTime(ticks, DateTimeKind.Utc);
        return date.Year * 100 + date.Month;
    }

    /// <summary>The month of a date (its day is ignored), as <c>yyyymm</c>.</summary>
    public static int MonthOf(DateOnly date) => date.Year * 100 + date.Month;

    /// <summary>The first day of a <c>yyyymm</c> month.</summary>
    public static DateOnly ToDate(int month) => new(month / 100, month % 100, 1);

    /// <summary>The ticks range <c>[start, end)</c> of a month.</summary>
    public static (long Start, long End) Bounds(int month)
    {
        var start = new DateTime(month / 100, month % 100, 1, 0, 0, 0, DateTimeKind.Utc);
        var end = start.Year == 9999 && start.Month == 12 ? DateTime.MaxValue.Ticks + 1 : start.AddMonths(1).Ticks;
        return (start.Ticks, end);
    }

    /// <summary>The partition's table name, unqualified.</summary>
    public static string TableName(int month) => "ts_p" + month.ToString(CultureInfo.InvariantCulture);

    /// <summary>Creates the partitions of this month and the next <see cref="PostgresStorageOptions.MonthsAhead"/> months.</summary>
    public ValueTask EnsureAheadAsync(CancellationToken cancellationToken)
    {
        var now = store.Time.GetUtcNow().UtcDateTime;
        var first = new DateTime(now.Year, now.Month, 1, 0, 0, 0, DateTimeKind.Utc);
        var months = Enumerable.Range(0, store.Options.MonthsAhead + 1)
            .TakeWhile(i => first.Year < 9999 || i == 0)
            .Select(i => MonthOf(first.AddMonths(i).Ticks))
            .ToList();
        return EnsureAsync(months, cancellationToken);
    }

    /// <summary>Makes sure a partition exists for each month (one short transaction when some are not known yet).</summary>
    public async ValueTask EnsureAsync(IReadOnlyCollection<int> months, CancellationToken cancellationToken)
    {
        List<int>? missing = null;
        foreach (var month in months)
        {
            if (!_known.ContainsKey(month))
            {
                (missing ??= []).Add(month);
            }
        }
        if (missing is null)
        {
            return;
        }
        await PgRetry.RunAsync(async ct =>
        {
            await using var connection = await store.DataSource.OpenConnectionAsync(ct).ConfigureAwait(false);
            await using var transaction = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
            await ExecuteAsync(connection, transaction, $"SELECT pg_advisory_xact_lock({store.LockKey("partitions")})", ct).ConfigureAwait(false);
            var existing = await ReadExistingAsync(connection, transaction, ct).ConfigureAwait(false);
            foreach (var month in missing)
            {
                if (!existing.Contains(TableName(month)))
                {
                    var (start, end) = Bounds(month);
                    await ExecuteAsync(connection, transaction,
                        $"CREATE TABLE {store.QualifiedSchema}.{TableName(month)} PARTITION OF {store.Series} FOR VALUES FROM ({start}) TO ({end})", ct).ConfigureAwait(false);
                }
            }
            await transaction.CommitAsync(ct).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
        foreach (var month in missing)
        {
            _known[month] = true;
        }
    }

    /// <summary>Forgets what this process knew of these months (an insert found no partition for one).</summary>
    public void Forget(IEnumerable<int> months)
    {
        foreach (var month in months)
        {
            _known.TryRemove(month, out _);
        }
    }

    /// <summary>Drops the month's partition and its entry in the month index, in one transaction.</summary>
    public async ValueTask DropAsync(int month, CancellationToken cancellationToken)
    {
        await PgRetry.RunAsync(async ct =>
        {
            await using var connection = await store.DataSource.OpenConnectionAsync(ct).ConfigureAwait(false);
            await using var transaction = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
            await ExecuteAsync(connection, transaction, $"SELECT pg_advisory_xact_lock({store.LockKey("partitions")})", ct).ConfigureAwait(false);
            await ExecuteAsync(connection, transaction, $"DELETE FROM {store.SeriesMonths} WHERE month = {month}", ct).ConfigureAwait(false);
            await ExecuteAsync(connection, transaction, $"DROP TABLE IF EXISTS {store.QualifiedSchema}.{TableName(month)}", ct).ConfigureAwait(false);
            await transaction.CommitAsync(ct).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
        _known.TryRemove(month, out _);
    }

    /// <summary>The names of the existing partitions of <c>ts</c>.</summary>
    public async ValueTask<HashSet<string>> ReadExistingAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1::regclass", connection, transaction);
        command.Parameters.Add(new NpgsqlParameter { Value = store.Series });
        var names = new HashSet<string>(StringComparer.Ordinal);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            names.Add(reader.GetString(0));
        }
        return names;
    }

    private static async ValueTask ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}
