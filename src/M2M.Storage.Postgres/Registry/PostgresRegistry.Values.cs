using System.Data;
using M2M.Storage.Registry;
using Npgsql;

namespace M2M.Storage.Postgres.Registry;

// Values: reads, writes, compare-and-set, batches; and the entries and blocks the subtree operations use.
public sealed partial class PostgresRegistry
{
    public async ValueTask<string?> GetValueAsync(RegistryPath path, string name, CancellationToken cancellationToken = default)
    {
        RegistryLimits.CheckName(name);
        await using var command = _db.CreateCommand(_sql.Value);
        command.Parameters.Add(Text(path.Value));
        command.Parameters.Add(Text(name));
        command.Parameters.Add(Bigint(NowMs));
        return FromUtf8(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false));
    }

    public async ValueTask<IReadOnlyDictionary<string, string>> GetValuesAsync(RegistryPath path, CancellationToken cancellationToken = default)
    {
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in await GetEntriesAsync(path, cancellationToken).ConfigureAwait(false))
        {
            result[entry.Name] = entry.Value;
        }
        return result;
    }

    /// <remarks>One statement: the node's row joined with its values.</remarks>
    public async ValueTask<IReadOnlyDictionary<string, string>?> GetValuesIfCreatedAsync(RegistryPath path, CancellationToken cancellationToken = default)
    {
        if (path.IsRoot)
        {
            return await GetValuesAsync(path, cancellationToken).ConfigureAwait(false);
        }
        await using var command = _db.CreateCommand(_sql.CreatedEntries);
        command.Parameters.Add(Text(path.Value));
        command.Parameters.Add(Bigint(NowMs));
        SortedDictionary<string, string>? result = null;
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            result ??= new SortedDictionary<string, string>(StringComparer.Ordinal);
            if (!reader.IsDBNull(0))
            {
                result[reader.GetString(0)] = FromUtf8(reader.GetFieldValue<byte[]>(1))!;
            }
        }
        return result;
    }

    public async ValueTask<IReadOnlyDictionary<string, string>> GetValuesAsync(RegistryPath path, IEnumerable<string> names, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(names);
        var wanted = names.Distinct(StringComparer.Ordinal).ToArray();
        foreach (var name in wanted)
        {
            RegistryLimits.CheckName(name);
        }
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (wanted.Length == 0)
        {
            return result;
        }
        await using var command = _db.CreateCommand(_sql.NamedValues);
        command.Parameters.Add(Text(path.Value));
        command.Parameters.Add(Bigint(NowMs));
        command.Parameters.Add(TextArray(wanted));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            result[reader.GetString(0)] = FromUtf8(reader.GetFieldValue<byte[]>(1))!;
        }
        return result;
    }

    public async ValueTask<IReadOnlyList<RegistryEntry>> GetEntriesAsync(RegistryPath path, CancellationToken cancellationToken = default)
    {
        await using var command = _db.CreateCommand(_sql.Entries);
        command.Parameters.Add(Text(path.Value));
        command.Parameters.Add(Bigint(NowMs));
        var entries = new List<RegistryEntry>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            entries.Add(new RegistryEntry(reader.GetString(0), FromUtf8(reader.GetFieldValue<byte[]>(1))!, reader.GetInt64(2)));
        }
        return entries;
    }

    public async ValueTask SetValueAsync(RegistryPath path, string name, string value, TimeSpan? timeToLive = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(value);
        RegistryLimits.Check(name, value);
        var expiry = Expiry(timeToLive);
        // Fast path, one statement: the node exists and is created (the usual case).
        await using (var command = _db.CreateCommand(_sql.SetValueIfCreated))
        {
            command.Parameters.Add(Text(path.Value));
            command.Parameters.Add(Text(name));
            command.Parameters.Add(Utf8(value));
            command.Parameters.Add(Bigint(expiry));
            if (await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1)
            {
                return;
            }
        }
        await InTransactionAsync(async (connection, transaction, ct) =>
        {
            await EnsureLineageAsync(connection, transaction, path, reviveDeleted: false, ct).ConfigureAwait(false);
            await UpsertAsync(connection, transaction, path, [new RegistryEntry(name, value, expiry)], ct).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
    }

    public ValueTask SetValuesAsync(RegistryPath path, IReadOnlyDictionary<string, string> values, TimeSpan? timeToLive = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(values);
        var batch = new RegistryBatch();
        foreach (var (name, value) in values)
        {
            batch.SetValue(path, name, value, timeToLive);
        }
        return WriteAsync(batch, cancellationToken);
    }

    public async ValueTask<bool> DeleteValueAsync(RegistryPath path, string name, CancellationToken cancellationToken = default)
    {
        RegistryLimits.CheckName(name);
        await using var command = _db.CreateCommand(_sql.DeleteValue);
        command.Parameters.Add(Text(path.Value));
        command.Parameters.Add(Text(name));
        command.Parameters.Add(Bigint(NowMs));
        // Deleting an expired value removes its row but reports it absent, as reading it would have.
        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is true;
    }

    public ValueTask DeleteValuesAsync(RegistryPath path, IEnumerable<string> names, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(names);
        var batch = new RegistryBatch();
        foreach (var name in names)
        {
            batch.DeleteValue(path, name);
        }
        return WriteAsync(batch, cancellationToken);
    }

    /// <remarks>
    /// Each case is one statement whose condition PostgreSQL evaluates on the newest version of the row,
    /// after waiting for a concurrent writer of that row: an insert that conflicts with a live value, an
    /// update or delete whose <c>value = expected</c> no longer holds, change nothing. Exactly one of
    /// concurrent claims of an absent value wins.
    /// </remarks>
    public async ValueTask<bool> CompareAndSetValueAsync(RegistryPath path, string name, string? expected, string? value, CancellationToken cancellationToken = default)
    {
        RegistryLimits.Check(name, value);
        if (expected is not null)
        {
            RegistryLimits.Check(name, expected);
        }
        if (expected is null && value is null)
        {
            return await GetValueAsync(path, name, cancellationToken).ConfigureAwait(false) is null;
        }
        for (var attempt = 0; ; attempt++)
        {
            await using (var command = _db.CreateCommand(expected is null ? _sql.ClaimValue : value is null ? _sql.DeleteValueIf : _sql.ReplaceValueIf))
            {
                command.Parameters.Add(Text(path.Value));
                command.Parameters.Add(Text(name));
                command.Parameters.Add(Bigint(NowMs));
                if (expected is not null)
                {
                    command.Parameters.Add(Utf8(expected));
                }
                if (value is not null)
                {
                    command.Parameters.Add(Utf8(value));
                }
                if (await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1)
                {
                    return true;
                }
            }
            // Nothing changed: the condition failed, unless a claim found no created node to write into.
            if (expected is not null || await GetStatusAsync(path, cancellationToken).ConfigureAwait(false) == RegistryNodeStatus.Created || attempt > 0)
            {
                return false;
            }
            await InTransactionAsync((connection, transaction, ct) => EnsureLineageAsync(connection, transaction, path, reviveDeleted: false, ct), cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask WriteAsync(RegistryBatch batch, CancellationToken cancellationToken = default)
    {
        if (!await TryWriteAsync(batch, cancellationToken).ConfigureAwait(false))
        {
            throw new InvalidOperationException("A condition of the registry batch does not hold.");
        }
    }

    /// <remarks>
    /// <para>Conditions on cells of nodes the batch writes to (the unique-index claims of the entity stores)
    /// are checked under row locks in a read-committed transaction: an existing cell is read
    /// <c>FOR UPDATE</c> (its newest committed value, and every other writer of it waits for this
    /// transaction); an absent one is held by a placeholder row inserted in its place — expired, so no
    /// reader ever sees it, and replaced by the batch's value or removed before the commit — on which
    /// any concurrent insert of that cell waits. The check and the writes are then one atomic step
    /// against every writer, with no retry.</para>
    /// <para>A condition on a node the batch does not write runs the batch as a serializable transaction
    /// instead (retried on a serialization failure, which then reads the new values).</para>
    /// <para>A batch whose conditions all expect a value (none expects absence: the read-modify-write of an
    /// entity's state) is first tried as one statement (<see cref="Sql.ConditionalWrite"/>): one round trip
    /// and one commit, the conditions' cells locked <c>FOR UPDATE</c> as above. Only when a node it writes
    /// to is not created does it run as the transaction above (which creates it, or refuses a soft-deleted one).</para>
    /// </remarks>
    public async ValueTask<bool> TryWriteAsync(RegistryBatch batch, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.IsEmpty && !batch.IsConditional)
        {
            return true;
        }
        if (batch.Conditions.Count > 0 && batch.Conditions.All(c => c.Expected is not null)
            && await PgRetry.RunAsync(ct => TryWriteInOneStatementAsync(batch, ct), cancellationToken).ConfigureAwait(false) is { } done)
        {
            return done;
        }
        var written = WrittenPaths(batch);
        var serializable = batch.Conditions.Any(c => !written.Contains(c.Path.Value));
        return await PgRetry.RunAsync(async ct =>
        {
            await using var connection = await _db.OpenConnectionAsync(ct).ConfigureAwait(false);
            await using var transaction = await connection.BeginTransactionAsync(serializable ? IsolationLevel.Serializable : IsolationLevel.ReadCommitted, ct).ConfigureAwait(false);
            if (!await WriteInTransactionAsync(connection, transaction, batch, ct).ConfigureAwait(false))
            {
                await transaction.RollbackAsync(ct).ConfigureAwait(false);
                return false;
            }
            await transaction.CommitAsync(ct).ConfigureAwait(false);
            return true;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The batch as one statement: whether it was written (its conditions held), or <c>null</c> when a node it
    /// writes to is not created (nothing written: the transaction path decides).
    /// </summary>
    private async ValueTask<bool?> TryWriteInOneStatementAsync(RegistryBatch batch, CancellationToken cancellationToken)
    {
        var conditions = batch.Conditions.Distinct().ToList();
        var (sets, deletes) = LastOperations(batch, []);
        var now = NowMs;
        await using var command = _db.CreateCommand(_sql.ConditionalWrite);
        // A node that must be created counts as one written to: when it is not, the transaction path decides.
        command.Parameters.Add(TextArray([.. WrittenPaths(batch).Union(batch.CreatedConditions.Select(p => p.Value), StringComparer.Ordinal)]));
        command.Parameters.Add(TextArray([.. conditions.Select(c => c.Path.Value)]));
        command.Parameters.Add(TextArray([.. conditions.Select(c => c.Name)]));
        command.Parameters.Add(Utf8Array([.. conditions.Select(c => c.Expected!)]));
        command.Parameters.Add(Bigint(now));
        command.Parameters.Add(TextArray([.. sets.Select(o => o.Path.Value)]));
        command.Parameters.Add(TextArray([.. sets.Select(o => o.Name)]));
        command.Parameters.Add(Utf8Array([.. sets.Select(o => o.Value!)]));
        command.Parameters.Add(BigintArray([.. sets.Select(o => Expiry(o.TimeToLive, now))]));
        command.Parameters.Add(TextArray([.. deletes.Select(o => o.Path.Value)]));
        command.Parameters.Add(TextArray([.. deletes.Select(o => o.Name)]));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        var nodesCreated = reader.GetBoolean(0);
        var conditionsHold = reader.GetBoolean(1);
        return nodesCreated ? conditionsHold : null;
    }

    /// <summary>
    /// The batch's operations, the last one on a cell deciding, split into writes and deletions; the
    /// <paramref name="placeholders"/> the batch does not overwrite are deleted too.
    /// </summary>
    private static (List<RegistryBatch.Operation> Sets, List<RegistryBatch.Operation> Deletes) LastOperations(RegistryBatch batch, List<(string Path, string Name)> placeholders)
    {
        var last = new Dictionary<(string Path, string Name), RegistryBatch.Operation>();
        foreach (var op in batch.Operations)
        {
            last[(op.Path.Value, op.Name)] = op;
        }
        var sets = last.Values.Where(o => o.Value is not null).ToList();
        var deletes = last.Values.Where(o => o.Value is null).ToList();
        // A placeholder that the batch does not overwrite goes (those it overwrites become the value).
        deletes.AddRange(placeholders.Where(p => !last.TryGetValue(p, out var op) || op.Value is null)
            .Select(p => new RegistryBatch.Operation(RegistryPath.Parse(p.Path), p.Name, null, null)));
        return (sets, deletes);
    }

    private static HashSet<string> WrittenPaths(RegistryBatch batch) =>
        batch.Operations.Where(o => o.Value is not null).Select(o => o.Path.Value).ToHashSet(StringComparer.Ordinal);

    /// <summary>
    /// Applies the batch in the caller's transaction (nodes written to created with it), when its conditions
    /// hold; <c>false</c> otherwise, and the caller rolls back.
    /// </summary>
    internal async ValueTask<bool> WriteInTransactionAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, RegistryBatch batch, CancellationToken cancellationToken)
    {
        var now = NowMs;
        var written = WrittenPaths(batch);
        await using var write = new NpgsqlBatch(connection, transaction);
        var required = batch.CreatedConditions.Select(p => p.Value).Distinct(StringComparer.Ordinal).ToArray();
        if (written.Count > 0 || required.Length > 0)
        {
            var created = new HashSet<string>(StringComparer.Ordinal);
            // One round trip: the nodes written to that exist, and the nodes that must be created (locked).
            await using (var read = new NpgsqlBatch(connection, transaction))
            {
                read.BatchCommands.Add(Command(_sql.CreatedNodes, TextArray([.. written])));
                if (required.Length > 0)
                {
                    read.BatchCommands.Add(Command(_sql.ShareCreatedNodes, TextArray(required)));
                }
                await using var reader = await read.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    created.Add(reader.GetString(0));
                }
                if (required.Length > 0)
                {
                    await reader.NextResultAsync(cancellationToken).ConfigureAwait(false);
                    await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                    if (reader.GetInt64(0) != required.Length)
                    {
                        return false;
                    }
                }
            }
            foreach (var path in written.Where(p => !created.Contains(p)).Order(StringComparer.Ordinal))
            {
                // Nodes written to are created with the batch; a soft-deleted one is not revived. Without
                // conditions (whose placeholders need the nodes), their insertion goes with the values' write.
                await EnsureLineageAsync(connection, transaction, RegistryPath.Parse(path), reviveDeleted: false, cancellationToken,
                    batch.Conditions.Count == 0 ? write : null).ConfigureAwait(false);
            }
        }

        var placeholders = new List<(string Path, string Name)>();
        if (batch.Conditions.Count > 0)
        {
            var locking = transaction.IsolationLevel != IsolationLevel.Serializable;
            // One lock order for every writer: path, then name.
            var conditions = batch.Conditions.OrderBy(c => c.Path.Value, StringComparer.Ordinal).ThenBy(c => c.Name, StringComparer.Ordinal);
            foreach (var condition in conditions)
            {
                var current = locking
                    ? await LockCellAsync(connection, transaction, condition.Path.Value, condition.Name, now, placeholders, cancellationToken).ConfigureAwait(false)
                    : await ReadCellAsync(connection, transaction, condition.Path.Value, condition.Name, now, cancellationToken).ConfigureAwait(false);
                if (!string.Equals(current, condition.Expected, StringComparison.Ordinal))
                {
                    return false;
                }
            }
        }

        // Operations apply in order: the last one on a cell decides.
        var (sets, deletes) = LastOperations(batch, placeholders);
        if (sets.Count > 0)
        {
            var command = new NpgsqlBatchCommand(_sql.UpsertValues);
            command.Parameters.Add(TextArray([.. sets.Select(o => o.Path.Value)]));
            command.Parameters.Add(TextArray([.. sets.Select(o => o.Name)]));
            command.Parameters.Add(Utf8Array([.. sets.Select(o => o.Value!)]));
            command.Parameters.Add(BigintArray([.. sets.Select(o => Expiry(o.TimeToLive, now))]));
            write.BatchCommands.Add(command);
        }
        if (deletes.Count > 0)
        {
            var command = new NpgsqlBatchCommand(_sql.DeleteValues);
            command.Parameters.Add(TextArray([.. deletes.Select(o => o.Path.Value)]));
            command.Parameters.Add(TextArray([.. deletes.Select(o => o.Name)]));
            write.BatchCommands.Add(command);
        }
        if (write.BatchCommands.Count > 0)
        {
            await write.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        return true;
    }

    /// <summary>
    /// The live value of a cell, locked until the end of the transaction: the row <c>FOR UPDATE</c>, or, when
    /// there is none, a placeholder row inserted in its place (expired: never read as a value).
    /// </summary>
    private async ValueTask<string?> LockCellAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string path, string name, long now,
        List<(string Path, string Name)> placeholders, CancellationToken cancellationToken)
    {
        while (true)
        {
            await using (var read = new NpgsqlCommand(_sql.LockCell, connection, transaction))
            {
                read.Parameters.Add(Text(path));
                read.Parameters.Add(Text(name));
                await using var reader = await read.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    var expires = reader.GetInt64(1);
                    return expires == 0 || expires > now ? FromUtf8(reader.GetFieldValue<byte[]>(0)) : null;
                }
            }
            await using var hold = new NpgsqlCommand(_sql.InsertPlaceholder, connection, transaction);
            hold.Parameters.Add(Text(path));
            hold.Parameters.Add(Text(name));
            if (await hold.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1)
            {
                placeholders.Add((path, name));
                return null;
            }
            // Another writer inserted the cell meanwhile (and committed): lock that row instead.
        }
    }

    private async ValueTask<string?> ReadCellAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string path, string name, long now, CancellationToken cancellationToken)
    {
        await using var read = new NpgsqlCommand(_sql.Value, connection, transaction);
        read.Parameters.Add(Text(path));
        read.Parameters.Add(Text(name));
        read.Parameters.Add(Bigint(now));
        return FromUtf8(await read.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false));
    }

    public ValueTask CreateWithEntriesAsync(RegistryPath path, IReadOnlyList<RegistryEntry> entries, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entries);
        foreach (var entry in entries)
        {
            ArgumentNullException.ThrowIfNull(entry.Value);
            RegistryLimits.Check(entry.Name, entry.Value);
        }
        return InTransactionAsync(async (connection, transaction, ct) =>
        {
            await EnsureLineageAsync(connection, transaction, path, reviveDeleted: true, ct).ConfigureAwait(false);
            var now = NowMs;
            await UpsertAsync(connection, transaction, path, [.. entries.Where(e => e.ExpiresAtMs == 0 || e.ExpiresAtMs > now)], ct).ConfigureAwait(false);
        }, cancellationToken);
    }

    /// <remarks>One <c>INSERT … SELECT</c> inside the database: no block passes through this process.</remarks>
    public ValueTask CopyBlocksAsync(RegistryPath source, RegistryPath target, CancellationToken cancellationToken = default) =>
        InTransactionAsync(async (connection, transaction, ct) =>
        {
            await using (var clear = new NpgsqlCommand(_sql.DeleteBlocks, connection, transaction))
            {
                clear.Parameters.Add(Text(target.Value));
                await clear.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
            await using (var any = new NpgsqlCommand(_sql.HasBlocks, connection, transaction))
            {
                any.Parameters.Add(Text(source.Value));
                if (await any.ExecuteScalarAsync(ct).ConfigureAwait(false) is not true)
                {
                    return;
                }
            }
            await EnsureLineageAsync(connection, transaction, target, reviveDeleted: false, ct).ConfigureAwait(false);
            await using var copy = new NpgsqlCommand(_sql.CopyBlocks, connection, transaction);
            copy.Parameters.Add(Text(source.Value));
            copy.Parameters.Add(Text(target.Value));
            await copy.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, cancellationToken);

    /// <summary>Upserts the cells of one node (which must exist), in the caller's transaction.</summary>
    private async ValueTask UpsertAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, RegistryPath path, IReadOnlyList<RegistryEntry> cells, CancellationToken cancellationToken)
    {
        if (cells.Count == 0)
        {
            return;
        }
        // One row per name (an import may name a value twice: the last one wins, as in a dictionary).
        var byName = new Dictionary<string, RegistryEntry>(StringComparer.Ordinal);
        foreach (var cell in cells)
        {
            byName[cell.Name] = cell;
        }
        cells = [.. byName.Values];
        await using var command = new NpgsqlCommand(_sql.UpsertValues, connection, transaction);
        command.Parameters.Add(TextArray([.. cells.Select(_ => path.Value)]));
        command.Parameters.Add(TextArray([.. cells.Select(c => c.Name)]));
        command.Parameters.Add(Utf8Array([.. cells.Select(c => c.Value)]));
        command.Parameters.Add(BigintArray([.. cells.Select(c => c.ExpiresAtMs)]));
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private long Expiry(TimeSpan? timeToLive) => Expiry(timeToLive, NowMs);

    private static long Expiry(TimeSpan? timeToLive, long now)
    {
        if (timeToLive is not { } ttl)
        {
            return 0;
        }
        if (ttl <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(timeToLive), "A time-to-live must be positive.");
        }
        return now + (long)Math.Ceiling(ttl.TotalMilliseconds);
    }
}
