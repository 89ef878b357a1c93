using M2M.Storage.Entities;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace M2M.Api.Auth;

/// <summary>
/// Refresh tokens: one family per sign-in, in which exactly one token is valid at a time. Using it
/// rotates it (the old one stops working); presenting any other token of the family — a rotated
/// one, so someone kept a copy — revokes the whole family, which logs out the thief and the user
/// alike (theft detection). A family dies when it expires (<see cref="ApiOptions.RefreshTokenLifetime"/>
/// after its last use), at logout, when its user is deleted and when the user's password changes
/// (the user's security stamp no longer matches). Only keyed hashes of the tokens are stored.
/// </summary>
public sealed partial class RefreshTokenService(
    IRefreshTokenStore families, IUserStore users, CredentialHasher hasher, IOptions<ApiOptions> options, TimeProvider time, ILogger<RefreshTokenService> logger)
{
    /// <summary>A new family for <paramref name="user"/>, just signed in with a password.</summary>
    public async Task<IssuedRefreshToken> IssueAsync(User user, CancellationToken cancellationToken)
    {
        var stamp = await users.GetSecurityStampAsync(user.Id, cancellationToken) ?? "";
        var id = Guid.NewGuid();
        var token = CredentialToken.Create(CredentialToken.RefreshPrefix, id);
        var now = time.GetUtcNow();
        var lifetime = options.Value.RefreshTokenLifetime;
        await families.CreateAsync(new RefreshTokenFamily(id, user.Id, stamp, hasher.Hash(token), now, now + lifetime), cancellationToken);
        return new IssuedRefreshToken(token, (int)lifetime.TotalSeconds);
    }

    /// <summary>
    /// Exchanges <paramref name="token"/> for its successor, with the (current) user it belongs to;
    /// <c>null</c> when the token is not valid (unknown, expired, revoked, reused, or its user is
    /// gone or changed password).
    /// </summary>
    public async Task<(User User, IssuedRefreshToken Token)?> RefreshAsync(string token, CancellationToken cancellationToken)
    {
        if (!CredentialToken.TryParse(CredentialToken.RefreshPrefix, token, out var id)
            || await families.GetAsync(id, cancellationToken) is not { } family)
        {
            return null;
        }
        var now = time.GetUtcNow();
        if (now >= family.ExpiresAt)
        {
            await families.RevokeAsync(id, cancellationToken);
            return null;
        }
        if (!hasher.Matches(token, family.TokenHash))
        {
            // Only a holder of one of the family's tokens knows its id: this is a rotated token used again.
            await families.RevokeAsync(id, cancellationToken);
            LogReuse(logger, id, family.UserId);
            return null;
        }
        var user = await users.GetAsync(family.UserId, cancellationToken);
        if (user is null || await users.GetSecurityStampAsync(user.Id, cancellationToken) != family.SecurityStamp)
        {
            await families.RevokeAsync(id, cancellationToken);
            return null;
        }
        var next = CredentialToken.Create(CredentialToken.RefreshPrefix, id);
        var lifetime = options.Value.RefreshTokenLifetime;
        if (!await families.RotateAsync(id, family.TokenHash, hasher.Hash(next), now + lifetime, cancellationToken))
        {
            // Another request rotated the same token at the same moment: one of the two is a copy.
            await families.RevokeAsync(id, cancellationToken);
            LogReuse(logger, id, family.UserId);
            return null;
        }
        return (user, new IssuedRefreshToken(next, (int)lifetime.TotalSeconds));
    }

    /// <summary>Ends the family of <paramref name="token"/> (any of its tokens will do); nothing for an unknown token.</summary>
    public async Task LogoutAsync(string token, CancellationToken cancellationToken)
    {
        if (CredentialToken.TryParse(CredentialToken.RefreshPrefix, token, out var id))
        {
            await families.RevokeAsync(id, cancellationToken);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "A rotated refresh token of family {Family} (user {User}) was used again: the family is revoked.")]
    private static partial void LogReuse(ILogger logger, Guid family, Guid user);
}

/// <summary>A refresh token and its lifetime in seconds.</summary>
public sealed record IssuedRefreshToken(string RefreshToken, int ExpiresIn);

/// <summary>Removes expired refresh-token families every <see cref="Interval"/>, so sign-ins do not pile up in the registry.</summary>
internal sealed partial class RefreshTokenSweeper(IRefreshTokenStore families, TimeProvider time, ILogger<RefreshTokenSweeper> logger) : Microsoft.Extensions.Hosting.BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromHours(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, time);
        do
        {
            try
            {
                var removed = await families.RemoveExpiredAsync(time.GetUtcNow(), stoppingToken);
                if (removed > 0)
                {
                    LogRemoved(logger, removed);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogFailed(logger, e);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Removed {Count} expired refresh-token families.")]
    private static partial void LogRemoved(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Removing expired refresh-token families failed; retrying at the next interval.")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}
