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

    /// <summary>
    /// Sets the domain's own retention of time series, in whole months (1 to
    /// <see cref="MaxRetentionMonths"/>), or clears it with <c>null</c> (the global
    /// <c>M2M:Storage:Retention:Months</c> applies). Stored as the domain value <c>retention_months</c>.
    /// </summary>
    /// <exception cref="EntityNotFoundException">Unknown id.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="months"/> is out of range.</exception>
    ValueTask<Domain> SetRetentionAsync(Guid id, int? months, CancellationToken cancellationToken = default);

    /// <summary>Longest retention a domain may set (100 years).</summary>
    public const int MaxRetentionMonths = 1200;

    /// <summary>The ids of the domain's devices (its device map), sorted.</summary>
    ValueTask<IReadOnlyList<Guid>> GetDeviceIdsAsync(Guid id, CancellationToken cancellationToken = default);

    /// <summary>The ids of the domain's users, sorted.</summary>
    ValueTask<IReadOnlyList<Guid>> GetUserIdsAsync(Guid id, CancellationToken cancellationToken = default);
}

/// <summary>A domain.</summary>
/// <param name="Id">Its id.</param>
/// <param name="Name">Its unique name.</param>
/// <param name="CreatedAt">When it was created.</param>
/// <param name="RetentionMonths">Its own retention of time series in months, when set (else the global one applies).</param>
public sealed record Domain(Guid Id, string Name, DateTimeOffset CreatedAt, int? RetentionMonths = null);
