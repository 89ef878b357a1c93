namespace M2M.Storage.Entities;

/// <summary>
/// Refresh-token families (<c>/refresh-token/&lt;uuid&gt;/</c>): one per sign-in, holding the hash of
/// the one refresh token of the family that is currently valid. Rotating replaces that hash
/// atomically; revoking removes the family for real.
/// </summary>
public interface IRefreshTokenStore
{
    /// <summary>Stores a new family.</summary>
    ValueTask CreateAsync(RefreshTokenFamily family, CancellationToken cancellationToken = default);

    /// <summary>A family by id, or <c>null</c> when unknown or revoked (expiry is the caller's to check).</summary>
    ValueTask<RefreshTokenFamily?> GetAsync(Guid id, CancellationToken cancellationToken = default);

    /// <summary>
    /// Replaces the current token hash <paramref name="expectedHash"/> by <paramref name="newHash"/>
    /// and the expiry, atomically against every other writer; <c>false</c> (nothing written) when
    /// the current hash is another one or the family is gone.
    /// </summary>
    ValueTask<bool> RotateAsync(Guid id, string expectedHash, string newHash, DateTimeOffset expiresAt, CancellationToken cancellationToken = default);

    /// <summary>Removes the family; <c>false</c> when it did not exist.</summary>
    ValueTask<bool> RevokeAsync(Guid id, CancellationToken cancellationToken = default);

    /// <summary>Removes every family expired at <paramref name="now"/>; returns how many.</summary>
    ValueTask<int> RemoveExpiredAsync(DateTimeOffset now, CancellationToken cancellationToken = default);
}

/// <summary>A refresh-token family: whose it is, the user's security stamp when it was issued, the current token's hash.</summary>
public sealed record RefreshTokenFamily(Guid Id, Guid UserId, string SecurityStamp, string TokenHash, DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt);
