using M2M.Storage.Registry;

namespace M2M.Storage.Contracts;

/// <summary>
/// A real registry with one interleaving forced: the first time a node's values are read through it
/// (<see cref="IRegistry.GetValuesAsync(RegistryPath, CancellationToken)"/>) and <see cref="When"/> holds for
/// the node, <see cref="Then"/> runs before the values are returned — another writer acting between a
/// caller's read and its write, deterministically.
/// </summary>
internal sealed class InterleavingRegistry(IRegistry inner) : IRegistry
{
    private int _fired;

    public Func<RegistryPath, bool> When { get; init; } = _ => false;

    public Func<Task> Then { get; init; } = () => Task.CompletedTask;

    /// <summary>Whether <see cref="Then"/> ran.</summary>
    public bool Fired => Volatile.Read(ref _fired) == 1;

    public async ValueTask<IReadOnlyDictionary<string, string>> GetValuesAsync(RegistryPath path, CancellationToken cancellationToken = default)
    {
        var values = await inner.GetValuesAsync(path, cancellationToken);
        if (When(path) && Interlocked.Exchange(ref _fired, 1) == 0)
        {
            await Then();
        }
        return values;
    }

    public ValueTask<RegistryNodeStatus> GetStatusAsync(RegistryPath path, CancellationToken cancellationToken = default) => inner.GetStatusAsync(path, cancellationToken);
    public ValueTask CreateAsync(RegistryPath path, IReadOnlyDictionary<string, string>? values = null, CancellationToken cancellationToken = default) => inner.CreateAsync(path, values, cancellationToken);
    public ValueTask<bool> CheckAsync(RegistryPath path, CancellationToken cancellationToken = default) => inner.CheckAsync(path, cancellationToken);
    public ValueTask<bool> DeleteAsync(RegistryPath path, bool hard = false, CancellationToken cancellationToken = default) => inner.DeleteAsync(path, hard, cancellationToken);
    public ValueTask<int> CleanupAsync(DateTimeOffset deletedBefore, CancellationToken cancellationToken = default) => inner.CleanupAsync(deletedBefore, cancellationToken);
    public ValueTask<string?> GetValueAsync(RegistryPath path, string name, CancellationToken cancellationToken = default) => inner.GetValueAsync(path, name, cancellationToken);
    public ValueTask<IReadOnlyDictionary<string, string>> GetValuesAsync(RegistryPath path, IEnumerable<string> names, CancellationToken cancellationToken = default) => inner.GetValuesAsync(path, names, cancellationToken);
    public ValueTask SetValueAsync(RegistryPath path, string name, string value, TimeSpan? timeToLive = null, CancellationToken cancellationToken = default) => inner.SetValueAsync(path, name, value, timeToLive, cancellationToken);
    public ValueTask SetValuesAsync(RegistryPath path, IReadOnlyDictionary<string, string> values, TimeSpan? timeToLive = null, CancellationToken cancellationToken = default) => inner.SetValuesAsync(path, values, timeToLive, cancellationToken);
    public ValueTask<bool> DeleteValueAsync(RegistryPath path, string name, CancellationToken cancellationToken = default) => inner.DeleteValueAsync(path, name, cancellationToken);
    public ValueTask DeleteValuesAsync(RegistryPath path, IEnumerable<string> names, CancellationToken cancellationToken = default) => inner.DeleteValuesAsync(path, names, cancellationToken);
    public ValueTask<bool> CompareAndSetValueAsync(RegistryPath path, string name, string? expected, string? value, CancellationToken cancellationToken = default) => inner.CompareAndSetValueAsync(path, name, expected, value, cancellationToken);
    public ValueTask WriteAsync(RegistryBatch batch, CancellationToken cancellationToken = default) => inner.WriteAsync(batch, cancellationToken);
    public ValueTask<bool> TryWriteAsync(RegistryBatch batch, CancellationToken cancellationToken = default) => inner.TryWriteAsync(batch, cancellationToken);
    public ValueTask<IReadOnlyList<string>> GetChildrenAsync(RegistryPath path, bool includeHidden = false, CancellationToken cancellationToken = default) => inner.GetChildrenAsync(path, includeHidden, cancellationToken);
    public ValueTask<IReadOnlyList<RegistryEntry>> GetEntriesAsync(RegistryPath path, CancellationToken cancellationToken = default) => inner.GetEntriesAsync(path, cancellationToken);
    public ValueTask CreateWithEntriesAsync(RegistryPath path, IReadOnlyList<RegistryEntry> entries, CancellationToken cancellationToken = default) => inner.CreateWithEntriesAsync(path, entries, cancellationToken);
    public ValueTask CopyBlocksAsync(RegistryPath source, RegistryPath target, CancellationToken cancellationToken = default) => inner.CopyBlocksAsync(source, target, cancellationToken);
}
