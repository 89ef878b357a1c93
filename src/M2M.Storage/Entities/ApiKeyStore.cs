using System.Globalization;
using M2M.Storage.Registry;

namespace M2M.Storage.Entities;

/// <summary><see cref="IApiKeyStore"/> over any <see cref="IRegistry"/>.</summary>
public sealed class ApiKeyStore(IRegistry registry, IDomainStore domains, TimeProvider? timeProvider = null) : IApiKeyStore
{
    /// <summary>Version of key nodes written by this code.</summary>
    public const int CurrentVersion = 1;

    /// <summary>Longest key name.</summary>
    public const int MaxNameLength = 100;

    /// <summary><c>/apikey/</c>.</summary>
    public static readonly RegistryPath Root = RegistryPath.Parse("/apikey/");

    private static readonly UpgradeStep[] Steps = [];
    private readonly TimeProvider _time = timeProvider ?? TimeProvider.System;

    /// <summary><c>/apikey/&lt;id&gt;/</c>.</summary>
    public static RegistryPath Path(Guid id) => Root.Child(id.ToString("D"));

    /// <summary>A key name: 1 to <see cref="MaxNameLength"/> characters, no control character.</summary>
    public static bool IsValidName(string? name) => !string.IsNullOrEmpty(name) && name.Length <= MaxNameLength && !name.Any(char.IsControl);

    public async ValueTask<ApiKey> CreateAsync(ApiKeyDraft draft, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(draft);
        if (!IsValidName(draft.Name))
        {
            throw new ArgumentException($"A key name has 1 to {MaxNameLength} characters and no control character.", nameof(draft));
        }
        if (!ApiKeyScopes.IsValid(draft.Scope))
        {
            throw new ArgumentException("A key scope is 'read' or 'write'.", nameof(draft));
        }
        ArgumentException.ThrowIfNullOrEmpty(draft.SecretHash);
        _ = await domains.GetAsync(draft.DomainId, cancellationToken).ConfigureAwait(false) ?? throw new EntityNotFoundException("domain", draft.DomainId.ToString("D"));

        var now = DateTimeOffset.FromUnixTimeMilliseconds(_time.GetUtcNow().ToUnixTimeMilliseconds());
        var expires = draft.ExpiresAt is { } e ? DateTimeOffset.FromUnixTimeMilliseconds(e.ToUnixTimeMilliseconds()) : (DateTimeOffset?)null;
        var values = new Dictionary<string, string>
        {
            ["name"] = draft.Name,
            ["domain"] = draft.DomainId.ToString("D"),
            ["scope"] = draft.Scope,
            ["created_date"] = EntityValues.FormatTime(now),
            ["secret_hash"] = draft.SecretHash,
            [EntityPaths.Version] = CurrentVersion.ToString(CultureInfo.InvariantCulture),
        };
        if (expires is { } x)
        {
            values["expires_date"] = EntityValues.FormatTime(x);
        }
        if (draft.CreatedBy is { } by)
        {
            values["created_by"] = by.ToString("D");
        }
        await registry.CreateAsync(Path(draft.Id), values, cancellationToken).ConfigureAwait(false);
        return new ApiKey(draft.Id, draft.Name, draft.DomainId, draft.Scope, now, expires, draft.CreatedBy, null, draft.SecretHash);
    }

    public async ValueTask<ApiKey?> GetAsync(Guid id, CancellationToken cancellationToken = default)
    {
        var path = Path(id);
        var values = await EntityVersioning.LoadAsync(registry, path, CurrentVersion, Steps, cancellationToken).ConfigureAwait(false);
        if (values is null
            || EntityValues.Text(values, "name") is not { } name
            || EntityValues.Id(values, "domain") is not { } domain
            || EntityValues.Text(values, "scope") is not { } scope
            || EntityValues.Text(values, "secret_hash") is not { } hash)
        {
            return null;
        }
        return new ApiKey(
            id,
            name,
            domain,
            scope,
            EntityValues.Time(values, "created_date") ?? DateTimeOffset.UnixEpoch,
            EntityValues.Time(values, "expires_date"),
            EntityValues.Id(values, "created_by"),
            EntityValues.Time(values, "last_used_date"),
            hash);
    }

    public async ValueTask<IReadOnlyList<ApiKey>> ListAsync(CancellationToken cancellationToken = default)
    {
        var result = new List<ApiKey>();
        foreach (var id in EntityPaths.Ids(await registry.GetChildrenAsync(Root, cancellationToken: cancellationToken).ConfigureAwait(false)))
        {
            if (await GetAsync(id, cancellationToken).ConfigureAwait(false) is { } key)
            {
                result.Add(key);
            }
        }
        result.Sort((a, b) => a.CreatedAt != b.CreatedAt ? a.CreatedAt.CompareTo(b.CreatedAt) : a.Id.CompareTo(b.Id));
        return result;
    }

    public async ValueTask<bool> RevokeAsync(Guid id, CancellationToken cancellationToken = default)
        => await registry.DeleteAsync(Path(id), cancellationToken: cancellationToken).ConfigureAwait(false);

    public async ValueTask RecordUseAsync(Guid id, DateTimeOffset at, CancellationToken cancellationToken = default)
    {
        try
        {
            if (await registry.GetStatusAsync(Path(id), cancellationToken).ConfigureAwait(false) == RegistryNodeStatus.Created)
            {
                await registry.SetValueAsync(Path(id), "last_used_date", EntityValues.FormatTime(at), cancellationToken: cancellationToken).ConfigureAwait(false);
            }
        }
        catch (RegistryNodeNotFoundException)
        {
            // Revoked meanwhile: nothing to record. (Were it also purged by a cleanup between the two
            // calls, the write would leave a node without a name, which every read ignores.)
        }
    }
}
