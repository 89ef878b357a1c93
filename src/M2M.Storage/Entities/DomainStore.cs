using System.Text.RegularExpressions;
using M2M.Storage.Registry;

namespace M2M.Storage.Entities;

/// <summary><see cref="IDomainStore"/> over any <see cref="IRegistry"/>.</summary>
public sealed partial class DomainStore(IRegistry registry, TimeProvider? timeProvider = null) : IDomainStore
{
    /// <summary>Version of domain nodes written by this code.</summary>
    public const int CurrentVersion = 1;

    private const string Kind = "domain";
    private static readonly UpgradeStep[] Steps = [];

    private readonly TimeProvider _time = timeProvider ?? TimeProvider.System;
    private readonly SemaphoreSlim _gate = new(1, 1);

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]{0,62}$", RegexOptions.CultureInvariant)]
    private static partial Regex NamePattern();

    /// <summary>Throws <see cref="InvalidDomainNameException"/> unless <paramref name="name"/> is a valid domain name.</summary>
    public static void ValidateName(string? name)
    {
        if (name is null || !NamePattern().IsMatch(name))
        {
            throw new InvalidDomainNameException(name ?? "");
        }
    }

    public async ValueTask<Domain> EnsureDefaultAsync(CancellationToken cancellationToken = default)
    {
        if (await GetByNameAsync(IDomainStore.DefaultName, cancellationToken).ConfigureAwait(false) is { } existing)
        {
            return existing;
        }
        try
        {
            return await CreateAsync(IDomainStore.DefaultName, cancellationToken).ConfigureAwait(false);
        }
        catch (DuplicateNameException)
        {
            return await GetByNameAsync(IDomainStore.DefaultName, cancellationToken).ConfigureAwait(false)
                ?? throw new InvalidOperationException("The default domain vanished while being created.");
        }
    }

    public async ValueTask<Domain> CreateAsync(string name, CancellationToken cancellationToken = default)
    {
        ValidateName(name);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var id = Guid.NewGuid();
            var now = _time.GetUtcNow();
            var node = EntityPaths.Domain(id);
            var values = new RegistryBatch()
                .SetValue(node, "name", name)
                .SetValue(node, "created_date", EntityValues.FormatTime(now))
                .SetValue(node, EntityPaths.Version, CurrentVersion.ToString(System.Globalization.CultureInfo.InvariantCulture));
            if (await UniqueIndex.ClaimAsync(registry, EntityPaths.DomainByName(name), id, IsLiveAsync(name, cancellationToken), values, cancellationToken).ConfigureAwait(false) is not null)
            {
                throw new DuplicateNameException(Kind, name);
            }
            await registry.CheckAsync(EntityPaths.Domain(id).Child("devices"), cancellationToken).ConfigureAwait(false);
            await registry.CheckAsync(EntityPaths.Domain(id).Child("users"), cancellationToken).ConfigureAwait(false);
            return new Domain(id, name, DateTimeOffset.FromUnixTimeMilliseconds(now.ToUnixTimeMilliseconds()));
        }
        finally
        {
            _gate.Release();
        }
    }

    private Func<Guid, ValueTask<bool>> IsLiveAsync(string name, CancellationToken cancellationToken)
        => async id => (await GetAsync(id, cancellationToken).ConfigureAwait(false))?.Name == name;

    public async ValueTask<Domain?> GetAsync(Guid id, CancellationToken cancellationToken = default)
    {
        var path = EntityPaths.Domain(id);
        var values = await EntityVersioning.LoadAsync(registry, path, CurrentVersion, Steps, cancellationToken).ConfigureAwait(false);
        return values is not null && EntityValues.Text(values, "name") is { } name
            ? new Domain(id, name, EntityValues.Time(values, "created_date") ?? DateTimeOffset.UnixEpoch, Retention(values))
            : null;
    }

    /// <summary>Name of the domain value holding its own retention in months.</summary>
    internal const string RetentionValue = "retention_months";

    private static int? Retention(IReadOnlyDictionary<string, string> values)
        => values.TryGetValue(RetentionValue, out var text)
            && int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var months)
            && months is >= 1 and <= IDomainStore.MaxRetentionMonths
            ? months
            : null;

    public async ValueTask<Domain> SetRetentionAsync(Guid id, int? months, CancellationToken cancellationToken = default)
    {
        if (months is { } m)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(m, 1, nameof(months));
            ArgumentOutOfRangeException.ThrowIfGreaterThan(m, IDomainStore.MaxRetentionMonths, nameof(months));
        }
        var domain = await GetAsync(id, cancellationToken).ConfigureAwait(false) ?? throw new EntityNotFoundException(Kind, id.ToString("D"));
        if (months is { } value)
        {
            await registry.SetValueAsync(EntityPaths.Domain(id), RetentionValue, value.ToString(System.Globalization.CultureInfo.InvariantCulture), cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await registry.DeleteValueAsync(EntityPaths.Domain(id), RetentionValue, cancellationToken).ConfigureAwait(false);
        }
        return domain with { RetentionMonths = months };
    }

    public async ValueTask<Domain?> GetByNameAsync(string name, CancellationToken cancellationToken = default)
    {
        ValidateName(name);
        if (await UniqueIndex.ReadAsync(registry, EntityPaths.DomainByName(name), cancellationToken).ConfigureAwait(false) is not { } id)
        {
            return null;
        }
        var domain = await GetAsync(id, cancellationToken).ConfigureAwait(false);
        return domain?.Name == name ? domain : null;
    }

    public async ValueTask<IReadOnlyList<Domain>> ListAsync(CancellationToken cancellationToken = default)
    {
        var result = new List<Domain>();
        foreach (var id in EntityPaths.Ids(await registry.GetChildrenAsync(EntityPaths.Domains, cancellationToken: cancellationToken).ConfigureAwait(false)))
        {
            if (await GetAsync(id, cancellationToken).ConfigureAwait(false) is { } domain)
            {
                result.Add(domain);
            }
        }
        result.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        return result;
    }

    public async ValueTask<Domain> RenameAsync(Guid id, string newName, CancellationToken cancellationToken = default)
    {
        ValidateName(newName);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var domain = await GetAsync(id, cancellationToken).ConfigureAwait(false) ?? throw new EntityNotFoundException(Kind, id.ToString("D"));
            if (domain.Name == newName)
            {
                return domain;
            }
            if (domain.Name == IDomainStore.DefaultName)
            {
                throw new EntityInUseException("The default domain cannot be renamed.");
            }
            var rename = new RegistryBatch().SetValue(EntityPaths.Domain(id), "name", newName);
            if (await UniqueIndex.ClaimAsync(registry, EntityPaths.DomainByName(newName), id, IsLiveAsync(newName, cancellationToken), rename, cancellationToken).ConfigureAwait(false) is not null)
            {
                throw new DuplicateNameException(Kind, newName);
            }
            await UniqueIndex.ReleaseAsync(registry, EntityPaths.DomainByName(domain.Name), id, cancellationToken).ConfigureAwait(false);
            return domain with { Name = newName };
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask<bool> DeleteAsync(Guid id, CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (await GetAsync(id, cancellationToken).ConfigureAwait(false) is not { } domain)
            {
                return false;
            }
            if (domain.Name == IDomainStore.DefaultName)
            {
                throw new EntityInUseException("The default domain cannot be deleted.");
            }
            var path = EntityPaths.Domain(id);
            if ((await registry.GetValuesAsync(path.Child("devices"), cancellationToken).ConfigureAwait(false)).Count > 0
                || (await registry.GetChildrenAsync(path.Child("users"), true, cancellationToken).ConfigureAwait(false)).Count > 0)
            {
                throw new EntityInUseException($"The domain '{domain.Name}' still has devices or users.");
            }
            await registry.DeleteAsync(path, cancellationToken: cancellationToken).ConfigureAwait(false);
            await UniqueIndex.ReleaseAsync(registry, EntityPaths.DomainByName(domain.Name), id, cancellationToken).ConfigureAwait(false);
            return true;
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask<IReadOnlyList<Guid>> GetDeviceIdsAsync(Guid id, CancellationToken cancellationToken = default)
    {
        await RequireAsync(id, cancellationToken).ConfigureAwait(false);
        var values = await registry.GetValuesAsync(EntityPaths.Domain(id).Child("devices"), cancellationToken).ConfigureAwait(false);
        return [.. EntityPaths.Ids(values.Keys.Order(StringComparer.Ordinal))];
    }

    public async ValueTask<IReadOnlyList<Guid>> GetUserIdsAsync(Guid id, CancellationToken cancellationToken = default)
    {
        await RequireAsync(id, cancellationToken).ConfigureAwait(false);
        return [.. EntityPaths.Ids(await registry.GetChildrenAsync(EntityPaths.Domain(id).Child("users"), true, cancellationToken).ConfigureAwait(false))];
    }

    private async ValueTask RequireAsync(Guid id, CancellationToken cancellationToken)
    {
        if (await registry.GetStatusAsync(EntityPaths.Domain(id), cancellationToken).ConfigureAwait(false) != RegistryNodeStatus.Created)
        {
            throw new EntityNotFoundException(Kind, id.ToString("D"));
        }
    }
}
