namespace M2M.Storage.Registry;

/// <summary>The lifecycle state of a registry node.</summary>
public enum RegistryNodeStatus
{
    /// <summary>Never created (or removed for real).</summary>
    Undefined,

    /// <summary>Created and part of the tree.</summary>
    Created,

    /// <summary>Soft-deleted: out of the tree, data kept until <see cref="IRegistry.CleanupAsync(DateTimeOffset, CancellationToken)"/>.</summary>
    Deleted,
}

/// <summary>
/// A tree of nodes addressed by <see cref="RegistryPath"/>; each node has a status, independent string
/// values (optionally with a time-to-live) and children. Values are independent cells: writers of
/// different values of one node never overwrite each other. Implementations are thread-safe.
/// </summary>
/// <remarks>
/// Writing a value (or a <see cref="RegistryBatch"/>) to a node that was never created creates it and
/// its missing ancestors first; a write below a soft-deleted node throws
/// <see cref="RegistryNodeNotFoundException"/> instead of reviving it (only create/check revive). Reads do not check the status: a
/// never-created node has no values and no children, and a soft-deleted node keeps its data
/// readable until <see cref="CleanupAsync(DateTimeOffset, CancellationToken)"/> (check <see cref="GetStatusAsync"/> to tell).
/// Names of children starting with <c>.</c> are hidden from the ordinary listing.
/// </remarks>
public interface IRegistry
{
    /// <summary>The status of a node.</summary>
    ValueTask<RegistryNodeStatus> GetStatusAsync(RegistryPath path, CancellationToken cancellationToken = default);

    /// <summary>
    /// Marks the node created, ensures every ancestor is created and adds the node to its parent's
    /// children. A soft-deleted node is purged first (it starts empty). <paramref name="values"/> are
    /// written with the creation, atomically where the backend allows.
    /// </summary>
    ValueTask CreateAsync(RegistryPath path, IReadOnlyDictionary<string, string>? values = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Creates the node when it is undefined or deleted and repairs a half-created node (ancestors or
    /// parent link missing). Returns <c>true</c> when something was created or repaired.
    /// </summary>
    ValueTask<bool> CheckAsync(RegistryPath path, CancellationToken cancellationToken = default);

    /// <summary>
    /// Removes the node and its whole subtree from the tree. Soft (default): status deleted,
    /// <c>.deleted_date</c> recorded, data kept until <see cref="CleanupAsync(DateTimeOffset, CancellationToken)"/>. Real
    /// (<paramref name="hard"/>): every row of the subtree, file blocks included, is removed.
    /// Returns <c>false</c> when the node was not created (a real delete of a soft-deleted node still
    /// purges it). The root cannot be deleted.
    /// </summary>
    ValueTask<bool> DeleteAsync(RegistryPath path, bool hard = false, CancellationToken cancellationToken = default);

    /// <summary>
    /// Removes for real every soft-deleted node with its subtree (and finishes interrupted deletions),
    /// and drops expired values. Returns the number of soft-deleted nodes removed.
    /// </summary>
    ValueTask<int> CleanupAsync(CancellationToken cancellationToken = default)
        => CleanupAsync(DateTimeOffset.MaxValue, cancellationToken);

    /// <summary>
    /// Removes for real every node soft-deleted <b>before</b> <paramref name="deletedBefore"/> (by the time
    /// of its deletion, the one recorded as <c>.deleted_date</c>) with its subtree, finishes interrupted
    /// real deletions (<see cref="DeleteAsync"/> with <c>hard</c>) whenever they started, and drops
    /// expired values. Nodes deleted at or after <paramref name="deletedBefore"/> stay soft-deleted (the
    /// grace period of the cleanup job). Returns the number of soft-deleted nodes removed.
    /// </summary>
    ValueTask<int> CleanupAsync(DateTimeOffset deletedBefore, CancellationToken cancellationToken = default);

    /// <summary>One value, or <c>null</c> when absent or expired.</summary>
    ValueTask<string?> GetValueAsync(RegistryPath path, string name, CancellationToken cancellationToken = default);

    /// <summary>Every live value of the node (hidden names such as <c>.version</c> included).</summary>
    ValueTask<IReadOnlyDictionary<string, string>> GetValuesAsync(RegistryPath path, CancellationToken cancellationToken = default);

    /// <summary>
    /// Every live value of the node (as <see cref="GetValuesAsync(RegistryPath, CancellationToken)"/>) when it is
    /// created; <c>null</c> when it is undefined or soft-deleted. One read where the backend allows (the
    /// status and the values of an entity's node: one round trip instead of two on a database).
    /// </summary>
    async ValueTask<IReadOnlyDictionary<string, string>?> GetValuesIfCreatedAsync(RegistryPath path, CancellationToken cancellationToken = default)
        => await GetStatusAsync(path, cancellationToken).ConfigureAwait(false) == RegistryNodeStatus.Created
            ? await GetValuesAsync(path, cancellationToken).ConfigureAwait(false)
            : null;

    /// <summary>The live values among <paramref name="names"/> (absent ones are left out).</summary>
    ValueTask<IReadOnlyDictionary<string, string>> GetValuesAsync(RegistryPath path, IEnumerable<string> names, CancellationToken cancellationToken = default);

    /// <summary>Sets one value, optionally expiring after <paramref name="timeToLive"/>.</summary>
    /// <exception cref="RegistryValueNameException">Invalid name.</exception>
    /// <exception cref="RegistryValueTooLargeException">The value is larger than <see cref="RegistryLimits.MaxValueBytes"/>.</exception>
    /// <exception cref="RegistryNodeNotFoundException">The node or an ancestor is soft-deleted.</exception>
    ValueTask SetValueAsync(RegistryPath path, string name, string value, TimeSpan? timeToLive = null, CancellationToken cancellationToken = default);

    /// <summary>Sets many values of one node at once (atomically where the backend allows).</summary>
    ValueTask SetValuesAsync(RegistryPath path, IReadOnlyDictionary<string, string> values, TimeSpan? timeToLive = null, CancellationToken cancellationToken = default);

    /// <summary>Deletes one value; <c>false</c> when it was absent.</summary>
    ValueTask<bool> DeleteValueAsync(RegistryPath path, string name, CancellationToken cancellationToken = default);

    /// <summary>Deletes many values of one node at once.</summary>
    ValueTask DeleteValuesAsync(RegistryPath path, IEnumerable<string> names, CancellationToken cancellationToken = default);

    /// <summary>
    /// Sets <paramref name="name"/> to <paramref name="value"/> (deletes it when <c>null</c>) only if its
    /// current value is <paramref name="expected"/> (<c>null</c> = absent). Atomic against every other
    /// writer; the building block of unique indexes.
    /// </summary>
    ValueTask<bool> CompareAndSetValueAsync(RegistryPath path, string name, string? expected, string? value, CancellationToken cancellationToken = default);

    /// <summary>Applies value writes and deletions on several nodes atomically where the backend allows.</summary>
    /// <exception cref="InvalidOperationException">A condition of the batch (<see cref="RegistryBatch.Expect"/>, <see cref="RegistryBatch.ExpectCreated"/>) does not hold.</exception>
    ValueTask WriteAsync(RegistryBatch batch, CancellationToken cancellationToken = default);

    /// <summary>
    /// Applies the batch, nodes it writes to created with it, in one atomic write only when every
    /// condition (<see cref="RegistryBatch.Expect"/>, <see cref="RegistryBatch.ExpectCreated"/>) holds,
    /// atomically against every other writer; <c>false</c> (nothing written) otherwise.
    /// </summary>
    ValueTask<bool> TryWriteAsync(RegistryBatch batch, CancellationToken cancellationToken = default);

    /// <summary>The names of the node's created children, sorted ordinally; hidden (<c>.</c>) names only when asked.</summary>
    ValueTask<IReadOnlyList<string>> GetChildrenAsync(RegistryPath path, bool includeHidden = false, CancellationToken cancellationToken = default);

    /// <summary>
    /// Every live value of the node with its expiry, in the backend's name order (the export and the
    /// copy read nodes through it).
    /// </summary>
    ValueTask<IReadOnlyList<RegistryEntry>> GetEntriesAsync(RegistryPath path, CancellationToken cancellationToken = default);

    /// <summary>
    /// <see cref="CreateAsync(RegistryPath, IReadOnlyDictionary{string, string}?, CancellationToken)"/>
    /// with values that carry their own expiry (the import and the copy write nodes through it): missing
    /// ancestors are created, a soft-deleted node is purged first, the entries are merged into the
    /// node's values (those already expired are left out), atomically where the backend allows. On the
    /// root, only the values are written.
    /// </summary>
    /// <exception cref="RegistryValueNameException">Invalid name.</exception>
    /// <exception cref="RegistryValueTooLargeException">A value is larger than <see cref="RegistryLimits.MaxValueBytes"/>.</exception>
    ValueTask CreateWithEntriesAsync(RegistryPath path, IReadOnlyList<RegistryEntry> entries, CancellationToken cancellationToken = default);

    /// <summary>
    /// Replaces the file blocks of <paramref name="target"/> with a copy of those of
    /// <paramref name="source"/>, holding at most one block in memory (values such as <c>fsize</c> are
    /// not touched). Nothing is copied when the source has no blocks.
    /// </summary>
    ValueTask CopyBlocksAsync(RegistryPath source, RegistryPath target, CancellationToken cancellationToken = default);

    // Subtree operations: implemented once over the members above (RegistrySubtree), which is what a
    // backend gets unless it implements them itself (a faster or more atomic path).

    /// <summary>
    /// Exports the subtree as JSON: <c>{"values":{…},"expires":{name: unixMs},"children":{name:{…}}}</c>
    /// (hidden children included, deleted ones left out).
    /// </summary>
    /// <exception cref="RegistryNodeNotFoundException">The node is not created.</exception>
    ValueTask<string> ExportJsonAsync(RegistryPath path, CancellationToken cancellationToken = default)
        => RegistrySubtree.ExportJsonAsync(this, path, cancellationToken);

    /// <summary>Imports an export under <paramref name="path"/>, creating nodes and merging values.</summary>
    /// <exception cref="RegistryImportException">The document is not a registry export (nothing is written).</exception>
    ValueTask ImportJsonAsync(RegistryPath path, string json, CancellationToken cancellationToken = default)
        => RegistrySubtree.ImportJsonAsync(this, path, json, cancellationToken);

    /// <summary>Copies the subtree of <paramref name="source"/> (values, children, file blocks) onto <paramref name="target"/>, merging.</summary>
    /// <exception cref="ArgumentException"><paramref name="target"/> is inside <paramref name="source"/>.</exception>
    /// <exception cref="RegistryNodeNotFoundException">The source is not created.</exception>
    ValueTask CopyAsync(RegistryPath source, RegistryPath target, CancellationToken cancellationToken = default)
        => RegistrySubtree.CopyAsync(this, source, target, cancellationToken);

    /// <summary>Moves a subtree: copy, then soft delete of the source.</summary>
    ValueTask MoveAsync(RegistryPath source, RegistryPath target, CancellationToken cancellationToken = default)
        => RegistrySubtree.MoveAsync(this, source, target, cancellationToken);
}

/// <summary>A live value of a node with its expiry.</summary>
/// <param name="Name">The value's name.</param>
/// <param name="Value">The value.</param>
/// <param name="ExpiresAtMs">When it expires, in Unix milliseconds; <c>0</c> = never.</param>
public readonly record struct RegistryEntry(string Name, string Value, long ExpiresAtMs);
