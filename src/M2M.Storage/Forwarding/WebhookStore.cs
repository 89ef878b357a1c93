using System.Globalization;
using M2M.Storage.Entities;
using M2M.Storage.Registry;

namespace M2M.Storage.Forwarding;

/// <summary>
/// Webhook endpoints of the domains (<c>/webhook/&lt;uuid&gt;/</c>). No secret is stored: an
/// endpoint's signing secret is derived from the forwarding key, the endpoint id and
/// <see cref="Webhook.SecretGeneration"/> (rotating it bumps the generation).
/// </summary>
public interface IWebhookStore
{
    /// <exception cref="ArgumentException">Invalid name or URL.</exception>
    /// <exception cref="EntityNotFoundException">The domain does not exist.</exception>
    ValueTask<Webhook> CreateAsync(WebhookDraft draft, CancellationToken cancellationToken = default);

    /// <summary>An endpoint by id, or <c>null</c>.</summary>
    ValueTask<Webhook?> GetAsync(Guid id, CancellationToken cancellationToken = default);

    /// <summary>Every endpoint, sorted by creation time.</summary>
    ValueTask<IReadOnlyList<Webhook>> ListAsync(CancellationToken cancellationToken = default);

    /// <summary>Changes the given settings; <c>null</c> when the endpoint does not exist.</summary>
    /// <exception cref="ArgumentException">Invalid name or URL.</exception>
    ValueTask<Webhook?> UpdateAsync(Guid id, WebhookChanges changes, CancellationToken cancellationToken = default);

    /// <summary>Increments the secret generation; <c>null</c> when the endpoint does not exist.</summary>
    ValueTask<Webhook?> RotateSecretAsync(Guid id, CancellationToken cancellationToken = default);

    /// <summary>Removes the endpoint for real; <c>false</c> when unknown.</summary>
    ValueTask<bool> DeleteAsync(Guid id, CancellationToken cancellationToken = default);

    /// <summary>Stores the delivery status (a deleted endpoint is left alone).</summary>
    ValueTask SetStatusAsync(Guid id, WebhookStatus status, CancellationToken cancellationToken = default);
}

/// <summary>A new endpoint. <paramref name="Restricted"/>: deliveries only to public addresses (made by a non-administrator).</summary>
public sealed record WebhookDraft(Guid Id, string Name, Guid DomainId, Uri Url, bool Records, bool Events, bool Restricted, Guid? CreatedBy);

/// <summary>Settings to change (<c>null</c> = unchanged).</summary>
public sealed record WebhookChanges(string? Name = null, Uri? Url = null, bool? Records = null, bool? Events = null, bool? Enabled = null, bool? Restricted = null);

/// <summary>
/// Delivery state of an endpoint as the dispatcher last wrote it: last success, last error and its
/// time, <c>Attempts</c> = failed attempts at the batch now being delivered (0 after a success),
/// <c>Delivered</c> = items delivered since the endpoint was created.
/// </summary>
public sealed record WebhookStatus(DateTimeOffset? LastSuccessAt, DateTimeOffset? LastErrorAt, string? LastError, int Attempts, long Delivered);

/// <summary>A webhook endpoint of a domain.</summary>
public sealed record Webhook(
    Guid Id,
    string Name,
    Guid DomainId,
    Uri Url,
    bool Records,
    bool Events,
    bool Enabled,
    bool Restricted,
    int SecretGeneration,
    DateTimeOffset CreatedAt,
    Guid? CreatedBy,
    WebhookStatus Status)
{
    /// <summary>Whether the endpoint takes anything now.</summary>
    public bool IsActive => Enabled && (Records || Events);
}

/// <summary><see cref="IWebhookStore"/> over any <see cref="IRegistry"/>.</summary>
public sealed class WebhookStore(IRegistry registry, IDomainStore domains, TimeProvider? timeProvider = null) : IWebhookStore
{
    public const int CurrentVersion = 1;
    public const int MaxNameLength = 100;
    public const int MaxUrlLength = 2048;

    /// <summary>Longest error text kept in the status.</summary>
    public const int MaxErrorLength = 500;

    /// <summary><c>/webhook/</c>.</summary>
    public static readonly RegistryPath Root = RegistryPath.Parse("/webhook/");

    private static readonly UpgradeStep[] Steps = [];
    private readonly TimeProvider _time = timeProvider ?? TimeProvider.System;

    public static RegistryPath Path(Guid id) => Root.Child(id.ToString("D"));

    public static bool IsValidName(string? name) => !string.IsNullOrEmpty(name) && name.Length <= MaxNameLength && !name.Any(char.IsControl);

    /// <summary>An absolute <c>http</c> or <c>https</c> URL without user information, at most <see cref="MaxUrlLength"/> characters.</summary>
    public static bool IsValidUrl(Uri? url) =>
        url is { IsAbsoluteUri: true } && (url.Scheme == Uri.UriSchemeHttp || url.Scheme == Uri.UriSchemeHttps)
        && string.IsNullOrEmpty(url.UserInfo) && url.AbsoluteUri.Length <= MaxUrlLength && !string.IsNullOrEmpty(url.Host);

    public async ValueTask<Webhook> CreateAsync(WebhookDraft draft, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(draft);
        Check(draft.Name, draft.Url);
        _ = await domains.GetAsync(draft.DomainId, cancellationToken).ConfigureAwait(false) ?? throw new EntityNotFoundException("domain", draft.DomainId.ToString("D"));
        var now = DateTimeOffset.FromUnixTimeMilliseconds(_time.GetUtcNow().ToUnixTimeMilliseconds());
        var values = new Dictionary<string, string>
        {
            ["name"] = draft.Name,
            ["domain"] = draft.DomainId.ToString("D"),
            ["url"] = draft.Url.AbsoluteUri,
            ["records"] = Flag(draft.Records),
            ["events"] = Flag(draft.Events),
            ["enabled"] = Flag(true),
            ["restricted"] = Flag(draft.Restricted),
            ["secret_generation"] = "1",
            ["created_date"] = EntityValues.FormatTime(now),
            [EntityPaths.Version] = CurrentVersion.ToString(CultureInfo.InvariantCulture),
        };
        if (draft.CreatedBy is { } by)
        {
            values["created_by"] = by.ToString("D");
        }
        await registry.CreateAsync(Path(draft.Id), values, cancellationToken).ConfigureAwait(false);
        return (await GetAsync(draft.Id, cancellationToken).ConfigureAwait(false))!;
    }

    public async ValueTask<Webhook?> GetAsync(Guid id, CancellationToken cancellationToken = default)
    {
        var path = Path(id);
        var values = await EntityVersioning.LoadAsync(registry, path, CurrentVersion, Steps, cancellationToken).ConfigureAwait(false);
        if (values is null
            || EntityValues.Text(values, "name") is not { } name
            || EntityValues.Id(values, "domain") is not { } domain
            || !Uri.TryCreate(EntityValues.Text(values, "url"), UriKind.Absolute, out var url))
        {
            return null;
        }
        var status = new WebhookStatus(
            EntityValues.Time(values, "last_success_date"),
            EntityValues.Time(values, "last_error_date"),
            EntityValues.Text(values, "last_error"),
            (int)Number(values, "attempts"),
            Number(values, "delivered"));
        return new Webhook(
            id, name, domain, url,
            Flag(values, "records"), Flag(values, "events"), Flag(values, "enabled"), Flag(values, "restricted"),
            (int)Math.Max(1, Number(values, "secret_generation")),
            EntityValues.Time(values, "created_date") ?? DateTimeOffset.UnixEpoch,
            EntityValues.Id(values, "created_by"),
            status);
    }

    public async ValueTask<IReadOnlyList<Webhook>> ListAsync(CancellationToken cancellationToken = default)
    {
        var result = new List<Webhook>();
        foreach (var id in EntityPaths.Ids(await registry.GetChildrenAsync(Root, cancellationToken: cancellationToken).ConfigureAwait(false)))
        {
            if (await GetAsync(id, cancellationToken).ConfigureAwait(false) is { } webhook)
            {
                result.Add(webhook);
            }
        }
        result.Sort((a, b) => a.CreatedAt != b.CreatedAt ? a.CreatedAt.CompareTo(b.CreatedAt) : a.Id.CompareTo(b.Id));
        return result;
    }

    public async ValueTask<Webhook?> UpdateAsync(Guid id, WebhookChanges changes, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(changes);
        if (await GetAsync(id, cancellationToken).ConfigureAwait(false) is not { } current)
        {
            return null;
        }
        Check(changes.Name ?? current.Name, changes.Url ?? current.Url);
        var values = new Dictionary<string, string>();
        if (changes.Name is { } name)
        {
            values["name"] = name;
        }
        if (changes.Url is { } url)
        {
            values["url"] = url.AbsoluteUri;
        }
        if (changes.Records is { } records)
        {
            values["records"] = Flag(records);
        }
        if (changes.Events is { } events)
        {
            values["events"] = Flag(events);
        }
        if (changes.Enabled is { } enabled)
        {
            values["enabled"] = Flag(enabled);
        }
        if (changes.Restricted is { } restricted)
        {
            values["restricted"] = Flag(restricted);
        }
        if (!await TrySetAsync(id, values, cancellationToken).ConfigureAwait(false))
        {
            return null;
        }
        return await GetAsync(id, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<Webhook?> RotateSecretAsync(Guid id, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            var text = await registry.GetValueAsync(Path(id), "secret_generation", cancellationToken).ConfigureAwait(false);
            if (text is null || await GetAsync(id, cancellationToken).ConfigureAwait(false) is null)
            {
                return null;
            }
            var next = (RegistryValueExtensions.ParseInt64(text) ?? 1) + 1;
            try
            {
                if (await registry.CompareAndSetValueAsync(Path(id), "secret_generation", text, RegistryValueExtensions.FormatInt64(next), cancellationToken).ConfigureAwait(false))
                {
                    return await GetAsync(id, cancellationToken).ConfigureAwait(false);
                }
            }
            catch (RegistryNodeNotFoundException)
            {
                return null;
            }
        }
    }

    public async ValueTask<bool> DeleteAsync(Guid id, CancellationToken cancellationToken = default)
        => await registry.DeleteAsync(Path(id), hard: true, cancellationToken).ConfigureAwait(false);

    public async ValueTask SetStatusAsync(Guid id, WebhookStatus status, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(status);
        var values = new Dictionary<string, string>
        {
            ["attempts"] = RegistryValueExtensions.FormatInt64(status.Attempts),
            ["delivered"] = RegistryValueExtensions.FormatInt64(status.Delivered),
        };
        if (status.LastSuccessAt is { } success)
        {
            values["last_success_date"] = EntityValues.FormatTime(success);
        }
        if (status.LastErrorAt is { } failure)
        {
            values["last_error_date"] = EntityValues.FormatTime(failure);
            values["last_error"] = EntityValues.TruncateUtf8(status.LastError ?? "", MaxErrorLength);
        }
        await TrySetAsync(id, values, cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask<bool> TrySetAsync(Guid id, Dictionary<string, string> values, CancellationToken cancellationToken)
    {
        try
        {
            if (await registry.GetStatusAsync(Path(id), cancellationToken).ConfigureAwait(false) != RegistryNodeStatus.Created)
            {
                return false;
            }
            await registry.SetValuesAsync(Path(id), values, cancellationToken: cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (RegistryNodeNotFoundException)
        {
            return false;
        }
    }

    private static void Check(string name, Uri url)
    {
        if (!IsValidName(name))
        {
            throw new ArgumentException($"A webhook name has 1 to {MaxNameLength} characters and no control character.", nameof(name));
        }
        if (!IsValidUrl(url))
        {
            throw new ArgumentException($"A webhook URL is an absolute http or https URL without user name or password, at most {MaxUrlLength} characters.", nameof(url));
        }
    }

    private static string Flag(bool value) => value ? "1" : "0";

    private static bool Flag(IReadOnlyDictionary<string, string> values, string name) => values.TryGetValue(name, out var text) && text == "1";

    private static long Number(IReadOnlyDictionary<string, string> values, string name)
        => values.TryGetValue(name, out var text) ? RegistryValueExtensions.ParseInt64(text) ?? 0 : 0;
}
