using M2M.Storage.Registry;

namespace M2M.Storage.Contracts;

/// <summary>
/// A test decorator of a real registry: forwards every member <see cref="IRegistry"/> declares without a
/// body to <see cref="Inner"/>; a derived class overrides the one it intercepts. The members with a
/// default body (<c>GetValuesIfCreatedAsync</c>, <c>CleanupAsync(ct)</c>, the subtree operations) are
/// deliberately not forwarded: through a decorator they run <see cref="IRegistry"/>'s own code over the
/// forwarded members, so what the decorator intercepts is also seen by them (a backend's one-statement
/// version would bypass it). A derived class that wants one forwarded re-implements it.
/// </summary>
public abstract class DelegatingRegistry(IRegistry inner) : IRegistry
{
    protected IRegistry Inner { get; } = inner;

    public virtual ValueTask<RegistryNodeStatus> GetStatusAsync(RegistryPath path, CancellationToken cancellationToken = default) => Inner.GetStatusAsync(path, cancellationToken);
    public virtual ValueTask CreateAsync(RegistryPath path, IReadOnlyDictionary<string, string>? values = null, CancellationToken cancellationToken = default) => Inner.CreateAsync(path, values, cancellationToken);
    public virtual ValueTask<bool> CheckAsync(RegistryPath path, CancellationToken cancellationToken = default) => Inner.CheckAsync(path, cancellationToken);
    public virtual ValueTask<bool> DeleteAsync(RegistryPath path, bool hard = false, CancellationToken cancellationToken = default) => Inner.DeleteAsync(path, hard, cancellationToken);
    public virtual ValueTask<int> CleanupAsync(DateTimeOffset deletedBefore, CancellationToken cancellationToken = default) => Inner.CleanupAsync(deletedBefore, cancellationToken);
    public virtual ValueTask<string?> GetValueAsync(RegistryPath path, string name, CancellationToken cancellationToken = default) => Inner.GetValueAsync(path, name, cancellationToken);
    public virtual ValueTask<IReadOnlyDictionary<string, string>> GetValuesAsync(RegistryPath path, CancellationToken cancellationToken = default) => Inner.GetValuesAsync(path, cancellationToken);
    public virtual ValueTask<IReadOnlyDictionary<string, string>> GetValuesAsync(RegistryPath path, IEnumerable<string> names, CancellationToken cancellationToken = default) => Inner.GetValuesAsync(path, names, cancellationToken);
    public virtual ValueTask SetValueAsync(RegistryPath path, string name, string value, TimeSpan? timeToLive = null, CancellationToken cancellationToken = default) => Inner.SetValueAsync(path, name, value, timeToLive, cancellationToken);
    public virtual ValueTask SetValuesAsync(RegistryPath path, IReadOnlyDictionary<string, string> values, TimeSpan? timeToLive = null, CancellationToken cancellationToken = default) => Inner.SetValuesAsync(path, values, timeToLive, cancellationToken);
    public virtual ValueTask<bool> DeleteValueAsync(RegistryPath path, string name, CancellationToken cancellationToken = default) => Inner.DeleteValueAsync(path, name, cancellationToken);
    public virtual ValueTask DeleteValuesAsync(RegistryPath path, IEnumerable<string> names, CancellationToken cancellationToken = default) => Inner.DeleteValuesAsync(path, names, cancellationToken);
    public virtual ValueTask<bool> CompareAndSetValueAsync(RegistryPath path, string name, string? expected, string? value, CancellationToken cancellationToken = default) => Inner.CompareAndSetValueAsync(path, name, expected, value, cancellationToken);
    public virtual ValueTask WriteAsync(RegistryBatch batch, CancellationToken cancellationToken = default) => Inner.WriteAsync(batch, cancellationToken);
    public virtual ValueTask<bool> TryWriteAsync(RegistryBatch batch, CancellationToken cancellationToken = default) => Inner.TryWriteAsync(batch, cancellationToken);
    public virtual ValueTask<IReadOnlyList<string>> GetChildrenAsync(RegistryPath path, bool includeHidden = false, CancellationToken cancellationToken = default) => Inner.GetChildrenAsync(path, includeHidden, cancellationToken);
    public virtual ValueTask<IReadOnlyList<RegistryEntry>> GetEntriesAsync(RegistryPath path, CancellationToken cancellationToken = default) => Inner.GetEntriesAsync(path, cancellationToken);
    public virtual ValueTask CreateWithEntriesAsync(RegistryPath path, IReadOnlyList<RegistryEntry> entries, CancellationToken cancellationToken = default) => Inner.CreateWithEntriesAsync(path, entries, cancellationToken);
    public virtual ValueTask CopyBlocksAsync(RegistryPath source, RegistryPath target, CancellationToken cancellationToken = default) => Inner.CopyBlocksAsync(source, target, cancellationToken);
}
