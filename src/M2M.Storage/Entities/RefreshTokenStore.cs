using System.Globalization;
using M2M.Storage.Registry;

namespace M2M.Storage.Entities;

/// <summary><see cref="IRefreshTokenStore"/> over any <see cref="IRegistry"/>.</summary>
public sealed class RefreshTokenStore(IRegistry registry) : IRefreshTokenStore
{
    /// <summary>Version of family nodes written by this code.</summary>
    public const int CurrentVersion = 1;

    /// <summary><c>/refresh-token/</c>.</summary>
    public static readonly RegistryPath Root = RegistryPath.Parse("/refresh-token/");

    private const string TokenHash = "token_hash";
    private const string ExpiresDate = "expires_date";

    /// <summary><c>/refresh-token/&lt;id&gt;/</c>.</summary>
    public static RegistryPath Path(Guid id) => Root.Child(id.ToString("D"));

    public async ValueTask CreateAsync(RefreshTokenFamily family, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(family);
        ArgumentException.ThrowIfNullOrEmpty(family.TokenHash);
        await registry.CreateAsync(Path(family.Id), new Dictionary<string, string>
        {
            ["user"] = family.UserId.ToString("D"),
            ["security_stamp"] = family.SecurityStamp,
            [TokenHash] = family.TokenHash,
            ["created_date"] = EntityValues.FormatTime(family.CreatedAt),
            [ExpiresDate] = EntityValues.FormatTime(family.ExpiresAt),
            [EntityPaths.Version] = CurrentVersion.ToString(CultureInfo.InvariantCulture),
        }, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<RefreshTokenFamily?> GetAsync(Guid id, CancellationToken cancellationToken = default)
    {
        var values = await registry.GetValuesAsync(Path(id), cancellationToken).ConfigureAwait(false);
        if (EntityValues.Id(values, "user") is not { } user
            || EntityValues.Text(values, TokenHash) is not { } hash
            || EntityValues.Time(values, ExpiresDate) is not { } expires)
        {
            return null;
        }
        return new RefreshTokenFamily(
            id,
            user,
            values.TryGetValue("security_stamp", out var stamp) ? stamp : "",
            hash,
            EntityValues.Time(values, "created_date") ?? DateTimeOffset.UnixEpoch,
            expires);
    }

    public async ValueTask<bool> RotateAsync(Guid id, string expectedHash, string newHash, DateTimeOffset expiresAt, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(expectedHash);
        ArgumentException.ThrowIfNullOrEmpty(newHash);
        var path = Path(id);
        // A revoked family has no values left, so the condition fails and nothing is revived.
        var batch = new RegistryBatch()
            .Expect(path, TokenHash, expectedHash)
            .SetValue(path, TokenHash, newHash)
            .SetValue(path, ExpiresDate, EntityValues.FormatTime(expiresAt));
        return await registry.TryWriteAsync(batch, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<bool> RevokeAsync(Guid id, CancellationToken cancellationToken = default)
    {
        var path = Path(id);
        // Anyone may present a made-up token to logout: an unknown id costs one read and writes nothing.
        if (await registry.GetStatusAsync(path, cancellationToken).ConfigureAwait(false) == RegistryNodeStatus.Undefined)
        {
            return false;
        }
        var existed = await registry.GetValueAsync(path, TokenHash, cancellationToken).ConfigureAwait(false) is not null;
        // Values first: a rotation racing with the revocation then fails its condition.
        await registry.DeleteValueAsync(path, TokenHash, cancellationToken).ConfigureAwait(false);
        await registry.DeleteAsync(path, hard: true, cancellationToken).ConfigureAwait(false);
        return existed;
    }

    public async ValueTask<int> RemoveExpiredAsync(DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        var removed = 0;
        foreach (var id in EntityPaths.Ids(await registry.GetChildrenAsync(Root, cancellationToken: cancellationToken).ConfigureAwait(false)))
        {
            var expires = await registry.GetValueAsync(Path(id), ExpiresDate, cancellationToken).ConfigureAwait(false);
            if (expires is not null && RegistryValueExtensions.ParseTime(expires) is { } at && at <= now)
            {
                await RevokeAsync(id, cancellationToken).ConfigureAwait(false);
                removed++;
            }
        }
        return removed;
    }
}
