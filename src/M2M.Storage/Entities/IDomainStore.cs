namespace M2M.Storage.Entities;

/// <summary>
/// Domains (<c>/domain/&lt;uuid&gt;/</c>, unique <c>name</c> indexed at <c>/domain/by-name/&lt;name&gt;/</c>).
/// The <c>default</c> domain holds auto-registered devices and always exists.
/// </summary>
public interface IDomainStore
{
    /// <summary>Name of the domain that receives auto-registered devices.</summary>
    public const string DefaultName = "default";

    /// <summary>The <c>default</c> domain, created when missing.</summary>
    ValueTask<Domain> EnsureDefaultAsync(CancellationToken cancellationToken = default);

    /// <summary>Creates a domain.</summary>
    /// <exception cref="InvalidDomainNameException">Invalid name.</exception>
    /// <exception cref="DuplicateNameException">The name is taken.</exception>
    ValueTask<Domain> CreateAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>A domain by id, or <c>null</c>.</summary>
    ValueTask<Domain?> GetAsync(Guid id, CancellationToken cancellationToken = default);

    /// <summary>A domain by name, or <c>null</c>.</summary>
    ValueTask<Domain?> GetByNameAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>Every domain, sorted by name.</summary>
    ValueTask<IReadOnlyList<Domain>> ListAsync(CancellationToken cancellationToken = default);

    /// <summary>Renames a domain (the <c>default</c> domain cannot be renamed).</summary>
    /// <exception cref="EntityNotFoundException">Unknown id.</exception>
    /// <exception cref="DuplicateNameException">The name is taken.</exception>
    ValueTask<Domain> RenameAsync(Guid id, string newName, CancellationToken cancellationToken = default);

    /// <summary>Soft-deletes an empty domain; <c>false</c> when unknown.</summary>
    /// <exception cref="EntityInUseException">The domain is <c>default</c> or still has devices or users.</exception>
    ValueTask<bool> DeleteAsync(Guid id, CancellationToken cancellationToken = default);

    /// <summary>The ids of the domain's devices (its device map), sorted.</summary>
    ValueTask<IReadOnlyList<Guid>> GetDeviceIdsAsync(Guid id, CancellationToken cancellationToken = default);

    /// <summary>The ids of the domain's users, sorted.</summary>
    ValueTask<IReadOnlyList<Guid>> GetUserIdsAsync(Guid id, CancellationToken cancellationToken = default);
}

/// <summary>A domain.</summary>
public sealed record Domain(Guid Id, string Name, DateTimeOffset CreatedAt);
