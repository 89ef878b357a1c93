namespace M2M.Storage.Registry;

/// <summary>
/// Value writes and deletions on one or more nodes, applied together by <see cref="IRegistry.WriteAsync"/>.
/// Names and sizes are validated when added.
/// </summary>
public sealed class RegistryBatch
{
    private readonly List<Operation> _operations = [];
    private readonly List<Condition> _conditions = [];
    private readonly List<RegistryPath> _created = [];

    /// <summary>The operations in the order they were added.</summary>
    public IReadOnlyList<Operation> Operations => _operations;

    /// <summary>The conditions checked by <see cref="IRegistry.TryWriteAsync"/> before anything is written.</summary>
    public IReadOnlyList<Condition> Conditions => _conditions;

    /// <summary>The nodes that must be created for the batch to apply (see <see cref="ExpectCreated"/>).</summary>
    public IReadOnlyList<RegistryPath> CreatedConditions => _created;

    /// <summary><c>true</c> when the batch has conditions (<see cref="Expect"/>, <see cref="ExpectCreated"/>).</summary>
    public bool IsConditional => _conditions.Count > 0 || _created.Count > 0;

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

    /// <summary>
    /// Applies the batch only if the node <paramref name="path"/> is created (neither undefined nor
    /// soft-deleted) when it is written, checked before anything else, so that a write below an entity's
    /// node neither creates a node that was never there nor fails on a deleted one: the batch simply does not
    /// apply (see <see cref="IRegistry.TryWriteAsync"/>). A deletion of the node waits for the write or is
    /// seen by it.
    /// </summary>
    public RegistryBatch ExpectCreated(RegistryPath path)
    {
        _created.Add(path);
        return this;
    }

    /// <summary>A value that must be <see cref="Expected"/> (<c>null</c> = absent) for the batch to apply.</summary>
    public readonly record struct Condition(RegistryPath Path, string Name, string? Expected);

    /// <summary>One write (<see cref="Value"/> set) or deletion (<see cref="Value"/> <c>null</c>).</summary>
    public readonly record struct Operation(RegistryPath Path, string Name, string? Value, TimeSpan? TimeToLive);
}
