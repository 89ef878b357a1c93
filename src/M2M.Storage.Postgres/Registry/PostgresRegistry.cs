using System.Data;
using M2M.Storage.Registry;
using Npgsql;
using NpgsqlTypes;

namespace M2M.Storage.Postgres.Registry;

/// <summary>
/// The registry in PostgreSQL: <c>registry_node</c> (one row per node: status, parent, the deletion
/// record of a soft delete), <c>registry_value</c> (one row per value cell) and <c>registry_block</c>
/// (file blocks), all keyed by the node path, so that a subtree is one key range
/// <c>[path, path with its last '/' replaced by '0')</c>. Layout and reasons:
/// <c>docs/storage-layout.md</c> (PostgreSQL).
/// </summary>
/// <remarks>
/// <para>Every operation is one transaction, so none leaves a half-done state behind a crash: a node and
/// its parent link are one row (a child is a node whose <c>parent</c> is the path), a creation writes the
/// missing ancestors, the node and its values together, a soft delete marks the whole subtree at once,
/// a real delete or a cleanup removes the rows of the subtree (values and blocks by cascade).</para>
/// <para>Values are independent rows: writers of different values of one node never touch the same row.
/// Conditional writes are atomic across processes: <see cref="CompareAndSetValueAsync"/> is one statement
/// (the row lock and PostgreSQL's re-check of the condition on the newest row version decide between
/// concurrent writers), <see cref="TryWriteAsync"/> checks its conditions under row locks of the cells
/// (see there) in the transaction that writes.
/// Creations and writes that create nodes take a share lock on the existing nodes of the lineage, so a
/// concurrent soft delete of an ancestor either sees the new node (and marks it) or is seen by it.</para>
/// </remarks>
public sealed partial class PostgresRegistry : IRegistry
{
    private readonly PostgresStore _store;
    private readonly NpgsqlDataSource _db;
    private readonly TimeProvider _time;
    private readonly Sql _sql;

    public PostgresRegistry(PostgresStore store, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
        _db = store.DataSource;
        _time = timeProvider ?? store.Time;
        _sql = new Sql(store);
    }

    internal PostgresStore Store => _store;

    private long NowMs => _time.GetUtcNow().ToUnixTimeMilliseconds();

    // ---------------------------------------------------------------- status and structure

    public async ValueTask<RegistryNodeStatus> GetStatusAsync(RegistryPath path, CancellationToken cancellationToken = default)
    {
        if (path.IsRoot)
        {
            return RegistryNodeStatus.Created;
        }
        await using var command = _db.CreateCommand(_sql.Status);
        command.Parameters.Add(Text(path.Value));
        return ToStatus(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false));
    }

    private static RegistryNodeStatus ToStatus(object? status) => status switch
    {
        'c' => RegistryNodeStatus.Created,
        'd' => RegistryNodeStatus.Deleted,
        _ => RegistryNodeStatus.Undefined,
    };

    public ValueTask CreateAsync(RegistryPath path, IReadOnlyDictionary<string, string>? values = null, CancellationToken cancellationToken = default)
    {
        var cells = new List<RegistryEntry>();
        foreach (var (name, value) in values ?? new Dictionary<string, string>())
        {
            ArgumentNullException.ThrowIfNull(value);
            RegistryLimits.Check(name, value);
            cells.Add(new RegistryEntry(name, value, 0));
        }
        return InTransactionAsync(async (connection, transaction, ct) =>
        {
            await EnsureLineageAsync(connection, transaction, path, reviveDeleted: true, ct).ConfigureAwait(false);
            await UpsertAsync(connection, transaction, path, cells, ct).ConfigureAwait(false);
        }, cancellationToken);
    }

    public ValueTask<bool> CheckAsync(RegistryPath path, CancellationToken cancellationToken = default) =>
        InTransactionAsync((connection, transaction, ct) => EnsureLineageAsync(connection, transaction, path, reviveDeleted: true, ct), cancellationToken);

    public ValueTask<bool> DeleteAsync(RegistryPath path, bool hard = false, CancellationToken cancellationToken = default)
    {
        if (path.IsRoot)
        {
            throw new ArgumentException("The registry root cannot be deleted.", nameof(path));
        }
        return InTransactionAsync(async (connection, transaction, ct) =>
        {
            RegistryNodeStatus status;
            await using (var lockNode = new NpgsqlCommand(_sql.LockNode, connection, transaction))
            {
                lockNode.Parameters.Add(Text(path.Value));
                status = ToStatus(await lockNode.ExecuteScalarAsync(ct).ConfigureAwait(false));
            }
            if (status == RegistryNodeStatus.Undefined)
            {
                return false;
            }
            if (hard)
            {
                await PurgeAsync(connection, transaction, path, ct).ConfigureAwait(false);
                return status == RegistryNodeStatus.Created;
            }
            if (status == RegistryNodeStatus.Deleted)
            {
                return false;
            }
            // The node leaves the tree (its parent lists created children only), its subtree reads as
            // deleted, and the node carries its deletion record (deleted_at) for cleanup: one transaction.
            var now = NowMs;
            await using var mark = new NpgsqlBatch(connection, transaction);
            mark.BatchCommands.Add(Command(_sql.MarkDeleted, Text(path.Value), Bigint(now)));
            mark.BatchCommands.Add(Command(_sql.MarkDescendantsDeleted, Text(path.Value), Text(SubtreeEnd(path))));
            mark.BatchCommands.Add(Command(_sql.UpsertValue, Text(path.Value), Text(".deleted_date"), Utf8(RegistryValueExtensions.FormatInt64(now)), Bigint(0)));
            await mark.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            return true;
        }, cancellationToken);
    }

    public ValueTask<int> CleanupAsync(CancellationToken cancellationToken = default) => CleanupAsync(DateTimeOffset.MaxValue, cancellationToken);

    /// <remarks>A real deletion is one transaction here, so no interrupted one is left to finish.</remarks>
    public async ValueTask<int> CleanupAsync(DateTimeOffset deletedBefore, CancellationToken cancellationToken = default)
    {
        var roots = new List<string>();
        await using (var command = _db.CreateCommand(_sql.DeletionRoots))
        {
            command.Parameters.Add(Bigint(deletedBefore.ToUnixTimeMilliseconds()));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                roots.Add(reader.GetString(0));
            }
        }
        var removed = 0;
        foreach (var root in roots)
        {
            // One transaction per deleted subtree: a large cleanup does not hold one huge transaction, and
            // a node re-created meanwhile (status back to created, record cleared) is left alone.
            var purged = await InTransactionAsync(async (connection, transaction, ct) =>
            {
                await using (var lockNode = new NpgsqlCommand(_sql.LockNode, connection, transaction))
                {
                    lockNode.Parameters.Add(Text(root));
                    if (ToStatus(await lockNode.ExecuteScalarAsync(ct).ConfigureAwait(false)) != RegistryNodeStatus.Deleted)
                    {
                        return false;
                    }
                }
                await PurgeAsync(connection, transaction, RegistryPath.Parse(root), ct).ConfigureAwait(false);
                return true;
            }, cancellationToken).ConfigureAwait(false);
            removed += purged ? 1 : 0;
        }
        await using (var expired = _db.CreateCommand(_sql.DeleteExpired))
        {
            expired.Parameters.Add(Bigint(NowMs));
            await expired.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        return removed;
    }

    /// <summary>
    /// Makes every node from the root down to <paramref name="path"/> created, in the caller's transaction.
    /// A soft-deleted node on the way is purged and created again when <paramref name="reviveDeleted"/>
    /// (create, check), or refused with <see cref="RegistryNodeNotFoundException"/> (value writes).
    /// Returns <c>true</c> when a node was created (or, with <paramref name="deferInserts"/>, is to be: the
    /// insertion is added to that batch, which the caller executes in the same transaction, instead of being
    /// a round trip of its own).
    /// </summary>
    internal async ValueTask<bool> EnsureLineageAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, RegistryPath path, bool reviveDeleted, CancellationToken cancellationToken,
        NpgsqlBatch? deferInserts = null)
    {
        var lineage = Lineage(path);
        if (lineage.Count == 0)
        {
            return false;
        }
        var statuses = new Dictionary<string, char>(StringComparer.Ordinal);
        await using (var read = new NpgsqlCommand(_sql.ShareNodes, connection, transaction))
        {
            read.Parameters.Add(TextArray([.. lineage.Select(p => p.Value)]));
            await using var reader = await read.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                statuses[reader.GetString(0)] = reader.GetChar(1);
            }
        }
        var firstDeleted = lineage.FindIndex(p => statuses.GetValueOrDefault(p.Value) == 'd');
        if (firstDeleted >= 0)
        {
            if (!reviveDeleted)
            {
                throw new RegistryNodeNotFoundException(lineage[firstDeleted]);
            }
            // Purging the topmost deleted node removes the rest of the lineage below it too.
            await PurgeAsync(connection, transaction, lineage[firstDeleted], cancellationToken).ConfigureAwait(false);
            for (var i = firstDeleted; i < lineage.Count; i++)
            {
                statuses.Remove(lineage[i].Value);
            }
        }
        var missing = lineage.Where(p => !statuses.ContainsKey(p.Value)).ToList();
        if (missing.Count == 0)
        {
            return false;
        }
        var inserts = Command(_sql.InsertNodes,
            TextArray([.. missing.Select(p => p.Value)]), TextArray([.. missing.Select(p => p.Parent!.Value.Value)]), TextArray([.. missing.Select(p => p.Name)]));
        if (deferInserts is not null)
        {
            deferInserts.BatchCommands.Add(inserts);
            return true;
        }
        await using var insert = new NpgsqlBatch(connection, transaction) { BatchCommands = { inserts } };
        await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>Removes every row of the subtree (values and blocks by cascade), in the caller's transaction.</summary>
    private async ValueTask PurgeAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, RegistryPath path, CancellationToken cancellationToken)
    {
        await using var purge = new NpgsqlCommand(_sql.PurgeSubtree, connection, transaction);
        purge.Parameters.Add(Text(path.Value));
        purge.Parameters.Add(Text(SubtreeEnd(path)));
        await purge.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The node's ancestors below the root, top-down, then the node itself.</summary>
    private static List<RegistryPath> Lineage(RegistryPath path)
    {
        var list = new List<RegistryPath>();
        for (RegistryPath? p = path; p is { IsRoot: false } current; p = current.Parent)
        {
            list.Add(current);
        }
        list.Reverse();
        return list;
    }

    /// <summary>The exclusive end of the subtree's key range: the path with its final '/' (0x2F) replaced by '0' (0x30).</summary>
    internal static string SubtreeEnd(RegistryPath path) => string.Concat(path.Value.AsSpan(0, path.Value.Length - 1), "0");

    // ---------------------------------------------------------------- children

    public async ValueTask<IReadOnlyList<string>> GetChildrenAsync(RegistryPath path, bool includeHidden = false, CancellationToken cancellationToken = default)
    {
        await using var command = _db.CreateCommand(includeHidden ? _sql.AllChildren : _sql.VisibleChildren);
        command.Parameters.Add(Text(path.Value));
        var names = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            names.Add(reader.GetString(0));
        }
        return names;
    }

    // ---------------------------------------------------------------- helpers

    /// <summary>Runs <paramref name="work"/> in one transaction, committed when it returns, retried on a serialization failure or deadlock.</summary>
    internal ValueTask<T> InTransactionAsync<T>(Func<NpgsqlConnection, NpgsqlTransaction, CancellationToken, ValueTask<T>> work, CancellationToken cancellationToken, IsolationLevel isolation = IsolationLevel.ReadCommitted) =>
        PgRetry.RunAsync(async ct =>
        {
            await using var connection = await _db.OpenConnectionAsync(ct).ConfigureAwait(false);
            await using var transaction = await connection.BeginTransactionAsync(isolation, ct).ConfigureAwait(false);
            var result = await work(connection, transaction, ct).ConfigureAwait(false);
            await transaction.CommitAsync(ct).ConfigureAwait(false);
            return result;
        }, cancellationToken);

    internal async ValueTask InTransactionAsync(Func<NpgsqlConnection, NpgsqlTransaction, CancellationToken, ValueTask> work, CancellationToken cancellationToken) =>
        await InTransactionAsync<bool>(async (connection, transaction, ct) =>
        {
            await work(connection, transaction, ct).ConfigureAwait(false);
            return true;
        }, cancellationToken).ConfigureAwait(false);

    internal static NpgsqlParameter Text(string value) => new NpgsqlParameter<string> { TypedValue = value, NpgsqlDbType = NpgsqlDbType.Text };

    /// <summary>A value cell's text as its UTF-8 bytes (<c>bytea</c>: PostgreSQL's <c>text</c> cannot hold U+0000, a value can).</summary>
    internal static NpgsqlParameter Utf8(string value) =>
        new NpgsqlParameter<byte[]> { TypedValue = System.Text.Encoding.UTF8.GetBytes(value), NpgsqlDbType = NpgsqlDbType.Bytea };

    internal static NpgsqlParameter Utf8Array(string[] values) =>
        new NpgsqlParameter<byte[][]> { TypedValue = [.. values.Select(System.Text.Encoding.UTF8.GetBytes)], NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bytea };

    /// <summary>A value cell read back (<c>null</c> for no row).</summary>
    internal static string? FromUtf8(object? bytes) => bytes is byte[] b ? System.Text.Encoding.UTF8.GetString(b) : null;

    internal static NpgsqlParameter Bigint(long value) => new NpgsqlParameter<long> { TypedValue = value, NpgsqlDbType = NpgsqlDbType.Bigint };

    internal static NpgsqlParameter TextArray(string[] values) =>
        new NpgsqlParameter<string[]> { TypedValue = values, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text };

    internal static NpgsqlParameter BigintArray(long[] values) =>
        new NpgsqlParameter<long[]> { TypedValue = values, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bigint };

    private static NpgsqlBatchCommand Command(string sql, params NpgsqlParameter[] parameters)
    {
        var command = new NpgsqlBatchCommand(sql);
        command.Parameters.AddRange(parameters);
        return command;
    }
}
