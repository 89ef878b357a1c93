using System.Text;
using M2M.Storage.Registry;
using RocksDbSharp;
using Cell = M2M.Storage.Registry.RegistryEntry;

namespace M2M.Storage.Rocks.Registry;

/// <summary>
/// The registry on the <c>registry</c> column family of a <see cref="RocksStore"/> (file blocks on
/// <c>blocks</c>). Each value, status and child link is its own key, so value writers never
/// read-modify-write a node. Structural operations (create, delete, copy, import, cleanup) are
/// serialised in the process; each step is one atomic write batch, and the steps are ordered so that
/// a crash between them leaves a state that <see cref="CheckAsync"/> or <see cref="CleanupAsync(DateTimeOffset, CancellationToken)"/> repairs.
/// </summary>
public sealed class RocksRegistry : IRegistry
{
    private const int BatchSize = 1000;
    private static readonly byte[] NoBytes = [];
    private static readonly byte[] CreatedCell = [RegistryKeys.StatusCreated];
    private static readonly byte[] DeletedCell = [RegistryKeys.StatusDeleted];
    private const int LockStripes = 64;

    private readonly RocksStore _store;
    private readonly RocksDb _db;
    private readonly ColumnFamilyHandle _cf;
    private readonly ColumnFamilyHandle _blocks;
    private readonly TimeProvider _time;
    private readonly Lock _structure = new();
    private readonly Lock[] _stripes = [.. Enumerable.Range(0, LockStripes).Select(_ => new Lock())];

    /// <summary>Creates the registry over an open store.</summary>
    public RocksRegistry(RocksStore store, TimeProvider? timeProvider = null)
    {
        _store = store;
        _db = store.Db;
        _cf = store.Family(RocksStore.Families.Registry);
        _blocks = store.Family(RocksStore.Families.Blocks);
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>
    /// Called with a step name between the steps of multi-step operations (<c>delete:marked</c>,
    /// <c>delete:descendants</c>, <c>create:purged</c>, <c>copy:node</c>, <c>import:node</c>). Tests throw
    /// from it to simulate a crash at that point.
    /// </summary>
    internal Action<string>? FaultHook { get; set; }

    internal RocksStore Store => _store;

    private long NowMs => _time.GetUtcNow().ToUnixTimeMilliseconds();

    // ---------------------------------------------------------------- status and structure

    public ValueTask<RegistryNodeStatus> GetStatusAsync(RegistryPath path, CancellationToken cancellationToken = default)
        => ValueTask.FromResult(ReadStatus(path));

    internal RegistryNodeStatus ReadStatus(RegistryPath path)
    {
        if (path.IsRoot)
        {
            return RegistryNodeStatus.Created;
        }
        var status = _db.Get(RegistryKeys.Status(path), _cf);
        return status switch
        {
            null or { Length: 0 } => RegistryNodeStatus.Undefined,
            [RegistryKeys.StatusCreated, ..] => RegistryNodeStatus.Created,
            _ => RegistryNodeStatus.Deleted,
        };
    }

    public ValueTask CreateAsync(RegistryPath path, IReadOnlyDictionary<string, string>? values = null, CancellationToken cancellationToken = default)
    {
        var cells = values is null ? [] : Cells(values, null);
        lock (_structure)
        {
            EnsureAncestors(path);
            if (path.IsRoot)
            {
                WriteCells(path, cells);
            }
            else
            {
                CreateOne(path, cells);
            }
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask<bool> CheckAsync(RegistryPath path, CancellationToken cancellationToken = default)
    {
        lock (_structure)
        {
            return ValueTask.FromResult(CheckLocked(path));
        }
    }

    private bool CheckLocked(RegistryPath path)
    {
        var repaired = false;
        foreach (var node in Lineage(path))
        {
            if (ReadStatus(node) != RegistryNodeStatus.Created)
            {
                CreateOne(node, []);
                repaired = true;
            }
            else if (!_db.HasKey(RegistryKeys.Child(node.Parent!.Value, node.Name), _cf))
            {
                // Created but not linked: a half-created node (e.g. a crash of a backend without atomic batches).
                _db.Put(RegistryKeys.Child(node.Parent!.Value, node.Name), NoBytes, _cf, _store.WriteOptions);
                repaired = true;
            }
        }
        return repaired;
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

    private void EnsureAncestors(RegistryPath path)
    {
        if (path.Parent is not { } parent)
        {
            return;
        }
        foreach (var node in Lineage(parent))
        {
            if (ReadStatus(node) != RegistryNodeStatus.Created)
            {
                CreateOne(node, []);
            }
        }
    }

    /// <summary>Creates one node whose ancestors exist: purges a soft-deleted one, then status + link + values in one batch.</summary>
    private void CreateOne(RegistryPath path, IReadOnlyList<Cell> cells)
    {
        var status = ReadStatus(path);
        if (status == RegistryNodeStatus.Deleted)
        {
            Purge(path);
            FaultHook?.Invoke("create:purged");
        }
        using var batch = new WriteBatch();
        batch.Put(RegistryKeys.Status(path), CreatedCell, _cf);
        batch.Put(RegistryKeys.Child(path.Parent!.Value, path.Name), NoBytes, _cf);
        foreach (var cell in cells)
        {
            batch.Put(RegistryKeys.Value(path, cell.Name), RegistryKeys.EncodeValue(cell.Value, cell.ExpiresAtMs), _cf);
        }
        _db.Write(batch, _store.WriteOptions);
    }

    /// <summary>
    /// Makes sure a node is created before values are written to it (fast path: one point read).
    /// Missing nodes are created; a soft-deleted node or ancestor is not revived by a stray write.
    /// </summary>
    private void EnsureCreated(RegistryPath path)
    {
        if (ReadStatus(path) == RegistryNodeStatus.Created)
        {
            return;
        }
        lock (_structure)
        {
            foreach (var node in Lineage(path))
            {
                switch (ReadStatus(node))
                {
                    case RegistryNodeStatus.Deleted:
                        throw new RegistryNodeNotFoundException(node);
                    case RegistryNodeStatus.Undefined:
                        CreateOne(node, []);
                        break;
                }
            }
        }
    }

    public ValueTask<bool> DeleteAsync(RegistryPath path, bool hard = false, CancellationToken cancellationToken = default)
    {
        if (path.IsRoot)
        {
            throw new ArgumentException("The registry root cannot be deleted.", nameof(path));
        }
        lock (_structure)
        {
            var status = ReadStatus(path);
            if (status == RegistryNodeStatus.Undefined)
            {
                return ValueTask.FromResult(false);
            }
            if (status == RegistryNodeStatus.Deleted)
            {
                if (hard)
                {
                    Purge(path);
                }
                return ValueTask.FromResult(false);
            }

            // Step 1, atomic: the node leaves the tree and is recorded for cleanup. A real deletion is
            // recorded at time 0, so that cleanup finishes it after a crash whatever its grace period.
            var now = NowMs;
            using (var batch = new WriteBatch())
            {
                batch.Put(RegistryKeys.Status(path), DeletedCell, _cf);
                batch.Put(RegistryKeys.Value(path, ".deleted_date"), RegistryKeys.EncodeValue(RegistryValueExtensions.FormatInt64(now), 0), _cf);
                batch.Put(RegistryKeys.Deleted(path), RegistryKeys.EncodeValue(RegistryValueExtensions.FormatInt64(hard ? 0 : now), 0), _cf);
                batch.Delete(RegistryKeys.Child(path.Parent!.Value, path.Name), _cf);
                _db.Write(batch, _store.WriteOptions);
            }
            FaultHook?.Invoke("delete:marked");

            if (hard)
            {
                Purge(path);
                return ValueTask.FromResult(true);
            }

            // Step 2: descendants read as deleted too. A crash before the end leaves some of them
            // "created" below a deleted node; cleanup removes the whole subtree anyway.
            MarkDescendantsDeleted(path);
            FaultHook?.Invoke("delete:descendants");
            return ValueTask.FromResult(true);
        }
    }

    private void MarkDescendantsDeleted(RegistryPath path)
    {
        var own = RegistryKeys.Status(path);
        var batch = new WriteBatch();
        var count = 0;
        try
        {
            foreach (var key in ScanKeys(RegistryKeys.SubtreeStart(path), RegistryKeys.SubtreeEnd(path)))
            {
                if (key.Length >= 2 && key[^2] == RegistryKeys.Separator && key[^1] == RegistryKeys.StatusTag && !key.AsSpan().SequenceEqual(own))
                {
                    batch.Put(key, DeletedCell, _cf);
                    if (++count % BatchSize == 0)
                    {
                        _db.Write(batch, _store.WriteOptions);
                        batch.Dispose();
                        batch = new WriteBatch();
                    }
                }
            }
            _db.Write(batch, _store.WriteOptions);
        }
        finally
        {
            batch.Dispose();
        }
    }

    /// <summary>Removes every row of the subtree (registry and blocks) and its cleanup record, atomically.</summary>
    private void Purge(RegistryPath path)
    {
        var start = RegistryKeys.SubtreeStart(path);
        var end = RegistryKeys.SubtreeEnd(path);
        using var batch = new WriteBatch();
        batch.DeleteRange(start, (ulong)start.Length, end, (ulong)end.Length, _cf);
        batch.DeleteRange(start, (ulong)start.Length, end, (ulong)end.Length, _blocks);
        batch.Delete(RegistryKeys.Deleted(path), _cf);
        if (path.Parent is { } parent)
        {
            batch.Delete(RegistryKeys.Child(parent, path.Name), _cf);
        }
        _db.Write(batch, _store.WriteOptions);
    }

    public ValueTask<int> CleanupAsync(CancellationToken cancellationToken = default) => CleanupAsync(DateTimeOffset.MaxValue, cancellationToken);

    public ValueTask<int> CleanupAsync(DateTimeOffset deletedBefore, CancellationToken cancellationToken = default)
    {
        var before = deletedBefore == DateTimeOffset.MaxValue ? long.MaxValue : deletedBefore.ToUnixTimeMilliseconds();
        var removed = 0;
        lock (_structure)
        {
            var marked = new List<RegistryPath>();
            using (var it = _db.NewIterator(_cf))
            {
                for (it.Seek(RegistryKeys.DeletedPrefix); it.Valid(); it.Next())
                {
                    var key = it.GetKeySpan();
                    if (!key.StartsWith(RegistryKeys.DeletedPrefix))
                    {
                        break;
                    }
                    // The record's value is the deletion time (unix ms; 0 for a real deletion to finish). An
                    // unreadable time counts as old: the record exists only for cleanup.
                    if (long.TryParse(RegistryKeys.ValueText(it.GetValueSpan()), System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var deletedAt)
                        && deletedAt >= before)
                    {
                        continue;
                    }
                    marked.Add(RegistryPath.Parse(Encoding.UTF8.GetString(key[RegistryKeys.DeletedPrefix.Length..])));
                }
            }
            foreach (var path in marked)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (ReadStatus(path) == RegistryNodeStatus.Created)
                {
                    // Re-created since: only the stale record goes.
                    _db.Remove(RegistryKeys.Deleted(path), _cf, _store.WriteOptions);
                    continue;
                }
                Purge(path);
                FaultHook?.Invoke("cleanup:node");
                removed++;
            }
        }
        RemoveExpiredValues(cancellationToken);
        return ValueTask.FromResult(removed);
    }

    private void RemoveExpiredValues(CancellationToken cancellationToken)
    {
        var now = NowMs;
        var expired = new List<byte[]>();
        using (var it = _db.NewIterator(_cf))
        {
            for (it.Seek([(byte)'/']); it.Valid(); it.Next())
            {
                var key = it.GetKeySpan();
                var sep = key.IndexOf(RegistryKeys.Separator);
                if (sep >= 0 && sep + 1 < key.Length && key[sep + 1] == RegistryKeys.ValueTag)
                {
                    var cell = it.Value();
                    if (!RegistryKeys.IsLive(cell, now))
                    {
                        expired.Add(key.ToArray());
                    }
                }
                if (expired.Count >= BatchSize)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    DeleteKeys(expired);
                }
            }
        }
        DeleteKeys(expired);
    }

    private void DeleteKeys(List<byte[]> keys)
    {
        if (keys.Count == 0)
        {
            return;
        }
        using var batch = new WriteBatch();
        foreach (var key in keys)
        {
            batch.Delete(key, _cf);
        }
        _db.Write(batch, _store.WriteOptions);
        keys.Clear();
    }

    // ---------------------------------------------------------------- values

    public ValueTask<string?> GetValueAsync(RegistryPath path, string name, CancellationToken cancellationToken = default)
    {
        RegistryLimits.CheckName(name);
        var cell = _db.Get(RegistryKeys.Value(path, name), _cf);
        return ValueTask.FromResult(cell is not null && RegistryKeys.IsLive(cell, NowMs) ? RegistryKeys.ValueText(cell) : null);
    }

    public ValueTask<IReadOnlyDictionary<string, string>> GetValuesAsync(RegistryPath path, CancellationToken cancellationToken = default)
    {
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var cell in ReadCells(path))
        {
            result[cell.Name] = cell.Value;
        }
        return ValueTask.FromResult<IReadOnlyDictionary<string, string>>(result);
    }

    public async ValueTask<IReadOnlyDictionary<string, string>> GetValuesAsync(RegistryPath path, IEnumerable<string> names, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(names);
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in names)
        {
            if (!result.ContainsKey(name) && await GetValueAsync(path, name, cancellationToken).ConfigureAwait(false) is { } value)
            {
                result[name] = value;
            }
        }
        return result;
    }

    /// <summary>The live value cells of a node.</summary>
    private List<Cell> ReadCells(RegistryPath path)
    {
        var now = NowMs;
        var prefix = RegistryKeys.ValuePrefix(path);
        var cells = new List<Cell>();
        using var it = _db.NewIterator(_cf);
        for (it.Seek(prefix); it.Valid(); it.Next())
        {
            var key = it.GetKeySpan();
            if (!key.StartsWith(prefix))
            {
                break;
            }
            var cell = it.Value();
            if (RegistryKeys.IsLive(cell, now))
            {
                cells.Add(new Cell(RegistryKeys.Suffix(key, prefix.Length), RegistryKeys.ValueText(cell), RegistryKeys.ValueExpiry(cell)));
            }
        }
        return cells;
    }

    public ValueTask SetValueAsync(RegistryPath path, string name, string value, TimeSpan? timeToLive = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(value);
        RegistryLimits.Check(name, value);
        var expiry = Expiry(timeToLive);
        EnsureCreated(path);
        lock (Stripe(path, name))
        {
            _db.Put(RegistryKeys.Value(path, name), RegistryKeys.EncodeValue(value, expiry), _cf, _store.WriteOptions);
        }
        return ValueTask.CompletedTask;
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

    public ValueTask<bool> DeleteValueAsync(RegistryPath path, string name, CancellationToken cancellationToken = default)
    {
        RegistryLimits.CheckName(name);
        var key = RegistryKeys.Value(path, name);
        lock (Stripe(path, name))
        {
            var cell = _db.Get(key, _cf);
            if (cell is null)
            {
                return ValueTask.FromResult(false);
            }
            _db.Remove(key, _cf, _store.WriteOptions);
            return ValueTask.FromResult(RegistryKeys.IsLive(cell, NowMs));
        }
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

    public ValueTask<bool> CompareAndSetValueAsync(RegistryPath path, string name, string? expected, string? value, CancellationToken cancellationToken = default)
    {
        RegistryLimits.Check(name, value);
        if (value is not null)
        {
            EnsureCreated(path);
        }
        else if (ReadStatus(path) != RegistryNodeStatus.Created)
        {
            return ValueTask.FromResult(expected is null);
        }
        var key = RegistryKeys.Value(path, name);
        lock (Stripe(path, name))
        {
            var cell = _db.Get(key, _cf);
            var current = cell is not null && RegistryKeys.IsLive(cell, NowMs) ? RegistryKeys.ValueText(cell) : null;
            if (!string.Equals(current, expected, StringComparison.Ordinal))
            {
                return ValueTask.FromResult(false);
            }
            if (value is null)
            {
                _db.Remove(key, _cf, _store.WriteOptions);
            }
            else
            {
                _db.Put(key, RegistryKeys.EncodeValue(value, 0), _cf, _store.WriteOptions);
            }
            return ValueTask.FromResult(true);
        }
    }

    public async ValueTask WriteAsync(RegistryBatch batch, CancellationToken cancellationToken = default)
    {
        if (!await TryWriteAsync(batch, cancellationToken).ConfigureAwait(false))
        {
            throw new InvalidOperationException("A condition of the registry batch does not hold.");
        }
    }

    public ValueTask<bool> TryWriteAsync(RegistryBatch batch, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.IsEmpty && !batch.IsConditional)
        {
            return ValueTask.FromResult(true);
        }
        var missing = batch.Operations.Where(o => o.Value is not null).Select(o => o.Path).Distinct()
            .Where(p => ReadStatus(p) != RegistryNodeStatus.Created).ToList();
        if (missing.Count == 0 && batch.CreatedConditions.Count == 0)
        {
            return ValueTask.FromResult(WriteLocked(batch, null));
        }
        // Nodes to create go into the same write as the values: the batch appears whole or not at all. The
        // nodes that must be created are checked under the lock that deletions take.
        lock (_structure)
        {
            if (batch.CreatedConditions.Any(p => ReadStatus(p) != RegistryNodeStatus.Created))
            {
                return ValueTask.FromResult(false);
            }
            return ValueTask.FromResult(WriteLocked(batch, missing.Count == 0 ? null : missing));
        }
    }

    /// <summary>Checks the conditions and writes the batch (creating <paramref name="missing"/> nodes, under <c>_structure</c>) under the stripes it touches.</summary>
    private bool WriteLocked(RegistryBatch batch, List<RegistryPath>? missing)
    {
        var stripes = batch.Operations.Select(o => StripeIndex(o.Path, o.Name))
            .Concat(batch.Conditions.Select(c => StripeIndex(c.Path, c.Name)))
            .Distinct().Order().ToArray();
        foreach (var s in stripes)
        {
            _stripes[s].Enter();
        }
        try
        {
            foreach (var condition in batch.Conditions)
            {
                var cell = _db.Get(RegistryKeys.Value(condition.Path, condition.Name), _cf);
                var current = cell is not null && RegistryKeys.IsLive(cell, NowMs) ? RegistryKeys.ValueText(cell) : null;
                if (!string.Equals(current, condition.Expected, StringComparison.Ordinal))
                {
                    return false;
                }
            }
            using var write = new WriteBatch();
            if (missing is not null)
            {
                var created = new HashSet<RegistryPath>();
                foreach (var path in missing)
                {
                    foreach (var node in Lineage(path))
                    {
                        switch (ReadStatus(node))
                        {
                            case RegistryNodeStatus.Deleted:
                                throw new RegistryNodeNotFoundException(node);
                            case RegistryNodeStatus.Undefined when created.Add(node):
                                write.Put(RegistryKeys.Status(node), CreatedCell, _cf);
                                write.Put(RegistryKeys.Child(node.Parent!.Value, node.Name), NoBytes, _cf);
                                break;
                        }
                    }
                }
            }
            foreach (var op in batch.Operations)
            {
                var key = RegistryKeys.Value(op.Path, op.Name);
                if (op.Value is null)
                {
                    write.Delete(key, _cf);
                }
                else
                {
                    write.Put(key, RegistryKeys.EncodeValue(op.Value, Expiry(op.TimeToLive)), _cf);
                }
            }
            _db.Write(write, _store.WriteOptions);
            return true;
        }
        finally
        {
            for (var i = stripes.Length - 1; i >= 0; i--)
            {
                _stripes[stripes[i]].Exit();
            }
        }
    }

    private long Expiry(TimeSpan? timeToLive)
    {
        if (timeToLive is not { } ttl)
        {
            return 0;
        }
        if (ttl <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(timeToLive), "A time-to-live must be positive.");
        }
        return NowMs + (long)Math.Ceiling(ttl.TotalMilliseconds);
    }

    private int StripeIndex(RegistryPath path, string name)
        => (int)((uint)HashCode.Combine(path, StringComparer.Ordinal.GetHashCode(name)) % LockStripes);

    private Lock Stripe(RegistryPath path, string name) => _stripes[StripeIndex(path, name)];

    private static List<Cell> Cells(IReadOnlyDictionary<string, string> values, long? expiresAtMs)
    {
        var cells = new List<Cell>(values.Count);
        foreach (var (name, value) in values)
        {
            ArgumentNullException.ThrowIfNull(value);
            RegistryLimits.Check(name, value);
            cells.Add(new Cell(name, value, expiresAtMs ?? 0));
        }
        return cells;
    }

    private void WriteCells(RegistryPath path, IReadOnlyList<Cell> cells)
    {
        if (cells.Count == 0)
        {
            return;
        }
        using var batch = new WriteBatch();
        foreach (var cell in cells)
        {
            batch.Put(RegistryKeys.Value(path, cell.Name), RegistryKeys.EncodeValue(cell.Value, cell.ExpiresAtMs), _cf);
        }
        _db.Write(batch, _store.WriteOptions);
    }

    // ---------------------------------------------------------------- children

    public ValueTask<IReadOnlyList<string>> GetChildrenAsync(RegistryPath path, bool includeHidden = false, CancellationToken cancellationToken = default)
    {
        var names = ReadChildren(path);
        if (!includeHidden)
        {
            names.RemoveAll(n => n.StartsWith('.'));
        }
        return ValueTask.FromResult<IReadOnlyList<string>>(names);
    }

    private List<string> ReadChildren(RegistryPath path)
    {
        var prefix = RegistryKeys.ChildPrefix(path);
        var names = new List<string>();
        using var it = _db.NewIterator(_cf);
        for (it.Seek(prefix); it.Valid(); it.Next())
        {
            var key = it.GetKeySpan();
            if (!key.StartsWith(prefix))
            {
                break;
            }
            names.Add(RegistryKeys.Suffix(key, prefix.Length));
        }
        return names;
    }

    private IEnumerable<byte[]> ScanKeys(byte[] start, byte[] end)
    {
        using var it = _db.NewIterator(_cf);
        for (it.Seek(start); it.Valid(); it.Next())
        {
            var key = it.Key();
            if (key.AsSpan().SequenceCompareTo(end) >= 0)
            {
                yield break;
            }
            yield return key;
        }
    }

    // ---------------------------------------------------------------- export, import, copy, move
    // The export is the engine-neutral one (RegistrySubtree, through GetEntriesAsync). Import and copy
    // hold the structure lock for the whole operation, so no structural change interleaves with them.

    public ValueTask<IReadOnlyList<RegistryEntry>> GetEntriesAsync(RegistryPath path, CancellationToken cancellationToken = default)
        => ValueTask.FromResult<IReadOnlyList<RegistryEntry>>(ReadCells(path));

    public ValueTask CreateWithEntriesAsync(RegistryPath path, IReadOnlyList<RegistryEntry> entries, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entries);
        foreach (var entry in entries)
        {
            ArgumentNullException.ThrowIfNull(entry.Value);
            RegistryLimits.Check(entry.Name, entry.Value);
        }
        lock (_structure)
        {
            EnsureAncestors(path);
            WriteNode(path, entries);
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask CopyBlocksAsync(RegistryPath source, RegistryPath target, CancellationToken cancellationToken = default)
    {
        lock (_structure)
        {
            CopyBlocks(source, target);
        }
        return ValueTask.CompletedTask;
    }

    /// <summary>Creates (or purges and re-creates) a node whose ancestors exist with its live cells; on the root, writes the cells.</summary>
    private void WriteNode(RegistryPath path, IReadOnlyList<Cell> cells)
    {
        var now = NowMs;
        var live = cells.Where(c => c.ExpiresAtMs == 0 || c.ExpiresAtMs > now).ToList();
        if (path.IsRoot)
        {
            WriteCells(path, live);
        }
        else
        {
            CreateOne(path, live);
        }
    }

    public ValueTask ImportJsonAsync(RegistryPath path, string json, CancellationToken cancellationToken = default)
    {
        // Validate the whole document before writing anything.
        var nodes = RegistrySubtree.ParseExport(path, json);
        lock (_structure)
        {
            EnsureAncestors(path);
            foreach (var node in nodes)
            {
                cancellationToken.ThrowIfCancellationRequested();
                WriteNode(node.Path, node.Entries);
                FaultHook?.Invoke("import:node");
            }
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask CopyAsync(RegistryPath source, RegistryPath target, CancellationToken cancellationToken = default)
    {
        if (source.IsAncestorOrSelf(target))
        {
            throw new ArgumentException($"Cannot copy '{source}' into itself ('{target}').", nameof(target));
        }
        lock (_structure)
        {
            if (ReadStatus(source) != RegistryNodeStatus.Created)
            {
                throw new RegistryNodeNotFoundException(source);
            }
            EnsureAncestors(target);
            CopyNode(source, target, cancellationToken);
        }
        return ValueTask.CompletedTask;
    }

    private void CopyNode(RegistryPath source, RegistryPath target, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var cells = ReadCells(source);
        if (target.IsRoot)
        {
            WriteCells(target, cells);
        }
        else
        {
            CreateOne(target, cells);
        }
        CopyBlocks(source, target);
        FaultHook?.Invoke("copy:node");
        foreach (var child in ReadChildren(source))
        {
            var childSource = source.Child(child);
            if (ReadStatus(childSource) == RegistryNodeStatus.Created)
            {
                CopyNode(childSource, target.Child(child), cancellationToken);
            }
        }
    }

    /// <summary>Copies a file node's blocks one at a time (never more than one block in memory).</summary>
    private void CopyBlocks(RegistryPath source, RegistryPath target)
    {
        var prefix = RegistryKeys.BlockPrefix(source);
        // Stale blocks of a previous file at the target would mix with the copy.
        var targetPrefix = RegistryKeys.BlockPrefix(target);
        var targetEnd = (byte[])targetPrefix.Clone();
        targetEnd[^1] = 1;
        using (var clear = new WriteBatch())
        {
            clear.DeleteRange(targetPrefix, (ulong)targetPrefix.Length, targetEnd, (ulong)targetEnd.Length, _blocks);
            _db.Write(clear, _store.WriteOptions);
        }
        using var it = _db.NewIterator(_blocks);
        for (it.Seek(prefix); it.Valid(); it.Next())
        {
            var key = it.GetKeySpan();
            if (!key.StartsWith(prefix))
            {
                break;
            }
            _db.Put(RegistryKeys.Block(target, RegistryKeys.BlockIndex(key)), it.Value(), _blocks, _store.WriteOptions);
        }
    }

    public async ValueTask MoveAsync(RegistryPath source, RegistryPath target, CancellationToken cancellationToken = default)
    {
        await CopyAsync(source, target, cancellationToken).ConfigureAwait(false);
        await DeleteAsync(source, hard: false, cancellationToken).ConfigureAwait(false);
    }
}
