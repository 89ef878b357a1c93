namespace M2M.Storage.Registry;

/// <summary>
/// Value writes and deletions on one or more nodes, applied together by <see cref="IRegistry.WriteAsync"/>.
/// Names and sizes are validated when added.
/// </summary>
public sealed class RegistryBatch
{
    private readonly List<Operation> _operations = [];
    private readonly List<Condition> _conditions = [];

    /// <summary>The operations in the order they were added.</summary>
    public IReadOnlyList<Operation> Operations => _operations;

    /// <summary>The conditions checked by <see cref="IRegistry.TryWriteAsync"/> before anything is written.</summary>
    public IReadOnlyList<Condition> Conditions => _conditions;

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

    /// <summary>
    /// Applies the batch only if the value <paramref name="name"/> of <paramref name="path"/> is
    /// <paramref name="expected"/> (<c>null</c> = absent) when it is written (see <see cref="IRegistry.TryWriteAsync"/>).
    /// </summary>
    public RegistryBatch Expect(RegistryPath path, string name, string? expected)
    {
        RegistryLimits.CheckName(name);
        _conditions.Add(new Condition(path, name, expected));
        return this;
    }

    /// <summary>A value that must be <see cref="Expected"/> (<c>null</c> = absent) for the batch to apply.</summary>
    public readonly record struct Condition(RegistryPath Path, string Name, string? Expected);

    /// <summary>One write (<see cref="Value"/> set) or deletion (<see cref="Value"/> <c>null</c>).</summary>
    public readonly record struct Operation(RegistryPath Path, string Name, string? Value, TimeSpan? TimeToLive);
}
