namespace M2M.Storage.Registry;

/// <summary>
/// Value writes and deletions on one or more nodes, applied together by <see cref="IRegistry.WriteAsync"/>.
/// Names and sizes are validated when added.
/// </summary>
public sealed class RegistryBatch
{
    private readonly List<Operation> _operations = [];

    /// <summary>The operations in the order they were added.</summary>
    public IReadOnlyList<Operation> Operations => _operations;

    /// <summary><c>true</c> when nothing was added.</summary>
    public bool IsEmpty => _operations.Count == 0;

    /// <summary>Sets a value (optionally expiring).</summary>
    public RegistryBatch SetValue(RegistryPath path, string name, string value, TimeSpan? timeToLive = null)
    {
        ArgumentNullException.ThrowIfNull(value);
        RegistryLimits.Check(name, value);
        _operations.Add(new Operation(path, name, value, timeToLive));
        return this;
    }

    /// <summary>Deletes a value.</summary>
    public RegistryBatch DeleteValue(RegistryPath path, string name)
    {
        RegistryLimits.CheckName(name);
        _operations.Add(new Operation(path, name, null, null));
        return this;
    }

    /// <summary>One write (<see cref="Value"/> set) or deletion (<see cref="Value"/> <c>null</c>).</summary>
    public readonly record struct Operation(RegistryPath Path, string Name, string? Value, TimeSpan? TimeToLive);
}
