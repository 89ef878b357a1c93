using M2M.Storage.Entities;
using M2M.Storage.Registry;

namespace M2M.Storage.Files;

/// <summary>
/// <see cref="IFirmwareStore"/> over any <see cref="IRegistry"/> and <see cref="IFileStore"/>:
/// <c>/firmware/&lt;id&gt;/</c> (<c>name</c>, <c>created_date</c>) with the content at
/// <c>/firmware/&lt;id&gt;/file/</c>, and <c>/firmware/by-name/&lt;name&gt;/</c> → <c>id</c>.
/// </summary>
public sealed class FirmwareStore(IRegistry registry, IFileStore files, TimeProvider? timeProvider = null) : IFirmwareStore
{
    private readonly TimeProvider _time = timeProvider ?? TimeProvider.System;

    private static RegistryPath Node(Guid id) => EntityPaths.Firmware.Child(id.ToString("D"));

    private static RegistryPath FileOf(Guid id) => Node(id).Child("file");

    private static RegistryPath ByName(string name) => EntityPaths.FirmwareByName.Child(RegistryPath.EscapeSegment(name));

    private static void ValidateName(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name.Length > IFirmwareStore.MaxNameLength || name.Any(char.IsControl))
        {
            throw new ArgumentException($"A firmware name has 1 to {IFirmwareStore.MaxNameLength} characters without control characters.", nameof(name));
        }
    }

    public async ValueTask<FirmwareInfo> StoreAsync(string name, Stream content, string contentType = "application/octet-stream", CancellationToken cancellationToken = default)
    {
        ValidateName(name);
        ArgumentNullException.ThrowIfNull(content);
        var id = Guid.NewGuid();
        var now = DateTimeOffset.FromUnixTimeMilliseconds(_time.GetUtcNow().ToUnixTimeMilliseconds());
        await registry.CreateAsync(Node(id), new Dictionary<string, string>
        {
            ["name"] = name,
            ["created_date"] = RegistryValueExtensions.FormatTime(now),
        }, cancellationToken).ConfigureAwait(false);
        var target = await files.CreateAsync(FileOf(id), name, contentType, cancellationToken: cancellationToken).ConfigureAwait(false);
        await using (target.ConfigureAwait(false))
        {
            await content.CopyToAsync(target, cancellationToken).ConfigureAwait(false);
        }
        var info = await files.GetInfoAsync(FileOf(id), cancellationToken).ConfigureAwait(false)
            ?? throw new StoredFileNotFoundException(FileOf(id));

        // Only a complete file is published under the name; the previous version goes.
        var index = ByName(name);
        while (true)
        {
            var previous = await registry.GetValueAsync(index, EntityPaths.IndexId, cancellationToken).ConfigureAwait(false);
            if (await registry.CompareAndSetValueAsync(index, EntityPaths.IndexId, previous, id.ToString("D"), cancellationToken).ConfigureAwait(false))
            {
                if (previous is not null && Guid.TryParse(previous, out var old))
                {
                    await registry.DeleteAsync(Node(old), cancellationToken: cancellationToken).ConfigureAwait(false);
                }
                break;
            }
        }
        return new FirmwareInfo(id, name, info.Size, contentType, now);
    }

    public async ValueTask<FirmwareInfo?> FindByNameAsync(string name, CancellationToken cancellationToken = default)
    {
        ValidateName(name);
        var text = await registry.GetValueAsync(ByName(name), EntityPaths.IndexId, cancellationToken).ConfigureAwait(false);
        return text is not null && Guid.TryParse(text, out var id) ? await GetAsync(id, cancellationToken).ConfigureAwait(false) : null;
    }

    public async ValueTask<FirmwareInfo?> GetAsync(Guid id, CancellationToken cancellationToken = default)
    {
        if (await registry.GetStatusAsync(Node(id), cancellationToken).ConfigureAwait(false) != RegistryNodeStatus.Created)
        {
            return null;
        }
        var values = await registry.GetValuesAsync(Node(id), cancellationToken).ConfigureAwait(false);
        if (!values.TryGetValue("name", out var name))
        {
            return null;
        }
        var file = await files.GetInfoAsync(FileOf(id), cancellationToken).ConfigureAwait(false);
        if (file is not { IsComplete: true })
        {
            return null;
        }
        var created = values.TryGetValue("created_date", out var c) ? RegistryValueExtensions.ParseTime(c) : null;
        return new FirmwareInfo(id, name, file.Size, file.ContentType, created ?? DateTimeOffset.UnixEpoch);
    }

    public ValueTask<Stream> OpenReadAsync(Guid id, CancellationToken cancellationToken = default)
        => files.OpenReadAsync(FileOf(id), cancellationToken);

    public async ValueTask<IReadOnlyList<FirmwareInfo>> ListAsync(CancellationToken cancellationToken = default)
    {
        var result = new List<FirmwareInfo>();
        foreach (var child in await registry.GetChildrenAsync(EntityPaths.FirmwareByName, true, cancellationToken).ConfigureAwait(false))
        {
            if (await FindByNameAsync(RegistryPath.UnescapeSegment(child), cancellationToken).ConfigureAwait(false) is { } info)
            {
                result.Add(info);
            }
        }
        result.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        return result;
    }

    // The access list lives on the name's index node, so a new version stored under the name keeps it
    // and deleting the name removes it: "all_domains" = "1", and one "domain.<id>" value per domain.
    private const string AllDomains = "all_domains";
    private const string DomainPrefix = "domain.";

    public async ValueTask<FirmwareAccess?> GetAccessAsync(string name, CancellationToken cancellationToken = default)
    {
        ValidateName(name);
        var values = await registry.GetValuesAsync(ByName(name), cancellationToken).ConfigureAwait(false);
        if (!values.ContainsKey(EntityPaths.IndexId))
        {
            return null;
        }
        var domains = new List<Guid>();
        foreach (var key in values.Keys)
        {
            if (key.StartsWith(DomainPrefix, StringComparison.Ordinal) && Guid.TryParseExact(key.AsSpan(DomainPrefix.Length), "D", out var id))
            {
                domains.Add(id);
            }
        }
        domains.Sort();
        return new FirmwareAccess(values.TryGetValue(AllDomains, out var all) && all == "1", domains);
    }

    public async ValueTask<bool> SetAccessAsync(string name, FirmwareAccess access, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(access);
        var index = ByName(name);
        if (await GetAccessAsync(name, cancellationToken).ConfigureAwait(false) is not { } current)
        {
            return false;
        }
        var batch = new RegistryBatch();
        foreach (var id in current.DomainIds.Except(access.DomainIds))
        {
            batch.DeleteValue(index, DomainPrefix + id.ToString("D"));
        }
        foreach (var id in access.DomainIds.Distinct())
        {
            batch.SetValue(index, DomainPrefix + id.ToString("D"), "");
        }
        if (access.AllDomains)
        {
            batch.SetValue(index, AllDomains, "1");
        }
        else
        {
            batch.DeleteValue(index, AllDomains);
        }
        await registry.WriteAsync(batch, cancellationToken).ConfigureAwait(false);
        return true;
    }

    public async ValueTask<FirmwareInfo?> FindForDomainAsync(string name, Guid domainId, CancellationToken cancellationToken = default)
    {
        var access = await GetAccessAsync(name, cancellationToken).ConfigureAwait(false);
        return access is not null && access.Allows(domainId) ? await FindByNameAsync(name, cancellationToken).ConfigureAwait(false) : null;
    }

    public async ValueTask<bool> DeleteAsync(string name, CancellationToken cancellationToken = default)
    {
        ValidateName(name);
        var index = ByName(name);
        var text = await registry.GetValueAsync(index, EntityPaths.IndexId, cancellationToken).ConfigureAwait(false);
        if (text is null)
        {
            return false;
        }
        await registry.DeleteAsync(index, hard: true, cancellationToken).ConfigureAwait(false);
        if (Guid.TryParse(text, out var id))
        {
            await registry.DeleteAsync(Node(id), hard: true, cancellationToken).ConfigureAwait(false);
        }
        return true;
    }
}
