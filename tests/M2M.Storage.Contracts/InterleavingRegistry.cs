using M2M.Storage.Registry;

namespace M2M.Storage.Contracts;

/// <summary>
/// A real registry with one interleaving forced: the first time a node's values are read through it
/// (<see cref="IRegistry.GetValuesAsync(RegistryPath, CancellationToken)"/>) and <see cref="When"/> holds for
/// the node, <see cref="Then"/> runs before the values are returned — another writer acting between a
/// caller's read and its write, deterministically.
/// </summary>
internal sealed class InterleavingRegistry(IRegistry inner) : DelegatingRegistry(inner)
{
    private int _fired;

    public Func<RegistryPath, bool> When { get; init; } = _ => false;

    public Func<Task> Then { get; init; } = () => Task.CompletedTask;

    /// <summary>Whether <see cref="Then"/> ran.</summary>
    public bool Fired => Volatile.Read(ref _fired) == 1;

    public override async ValueTask<IReadOnlyDictionary<string, string>> GetValuesAsync(RegistryPath path, CancellationToken cancellationToken = default)
    {
        var values = await Inner.GetValuesAsync(path, cancellationToken);
        if (When(path) && Interlocked.Exchange(ref _fired, 1) == 0)
        {
            await Then();
        }
        return values;
    }
}
