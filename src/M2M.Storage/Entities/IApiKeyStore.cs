namespace M2M.Storage.Entities;

/// <summary>
/// API keys of applications (<c>/apikey/&lt;uuid&gt;/</c>): each belongs to one domain and has a
/// scope. Only a hash of the secret is stored (the caller hashes; the store never sees the key).
/// </summary>
public interface IApiKeyStore
{
    /// <summary>Stores a new key.</summary>
    /// <exception cref="ArgumentException">Invalid name or scope, or an empty hash.</exception>
    /// <exception cref="EntityNotFoundException">The domain does not exist.</exception>
    ValueTask<ApiKey> CreateAsync(ApiKeyDraft draft, CancellationToken cancellationToken = default);

    /// <summary>A live (not revoked) key by id, or <c>null</c>. Reads the store every time: a revocation applies at once on every node.</summary>
    ValueTask<ApiKey?> GetAsync(Guid id, CancellationToken cancellationToken = default);

    /// <summary>Every live key, sorted by creation time.</summary>
    ValueTask<IReadOnlyList<ApiKey>> ListAsync(CancellationToken cancellationToken = default);

    /// <summary>Revokes (soft-deletes) a key; <c>false</c> when unknown or already revoked.</summary>
    ValueTask<bool> RevokeAsync(Guid id, CancellationToken cancellationToken = default);

    /// <summary>Records when the key was last used (a revoked key is left alone).</summary>
    ValueTask RecordUseAsync(Guid id, DateTimeOffset at, CancellationToken cancellationToken = default);
}

/// <summary>What an administrator asks for: the id and secret hash are made by the caller.</summary>
public sealed record ApiKeyDraft(Guid Id, string Name, Guid DomainId, string Scope, DateTimeOffset? ExpiresAt, Guid? CreatedBy, string SecretHash);

/// <summary>A stored API key (its secret exists only as <see cref="SecretHash"/>).</summary>
public sealed record ApiKey(
    Guid Id,
    string Name,
    Guid DomainId,
    string Scope,
    DateTimeOffset CreatedAt,
    DateTimeOffset? ExpiresAt,
    Guid? CreatedBy,
    DateTimeOffset? LastUsedAt,
    string SecretHash)
{
    /// <summary>Whether the key has expired at <paramref name="now"/>.</summary>
    public bool IsExpired(DateTimeOffset now) => ExpiresAt is { } at && now >= at;
}

/// <summary>Scopes of API keys: <c>read</c> (GET and HEAD) and <c>write</c> (everything read has, plus changes).</summary>
public static class ApiKeyScopes
{
    public const string Read = "read";

    public const string Write = "write";

    public static bool IsValid(string? scope) => scope is Read or Write;
}
