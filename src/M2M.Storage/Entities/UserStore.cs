using System.Text.RegularExpressions;
using M2M.Storage.Registry;
using Microsoft.AspNetCore.Identity;

namespace M2M.Storage.Entities;

/// <summary>
/// <see cref="IUserStore"/> over any <see cref="IRegistry"/>. Passwords are hashed with ASP.NET Core
/// Identity's <see cref="PasswordHasher{TUser}"/> (PBKDF2, per-password salt) and only the hash
/// (<c>password_hash</c>) is stored.
/// </summary>
public sealed partial class UserStore(IRegistry registry, IDomainStore domains, TimeProvider? timeProvider = null) : IUserStore
{
    /// <summary>Version of user nodes written by this code.</summary>
    public const int CurrentVersion = 1;

    /// <summary>Longest accepted password.</summary>
    public const int MaxPasswordLength = 1024;

    private const string Kind = "user";
    private const string PasswordHash = "password_hash";
    private const string SecurityStamp = "security_stamp";
    private static readonly UpgradeStep[] Steps = [];
    private static readonly PasswordHasher<User> Hasher = new();
    private static readonly User HashSubject = new(Guid.Empty, "", null, Guid.Empty, UserRoles.User, DateTimeOffset.UnixEpoch);

    // Verified against when the user is unknown, so that a miss costs as much as a wrong password.
    private static readonly Lazy<string> DummyHash = new(() => Hasher.HashPassword(HashSubject, Guid.NewGuid().ToString()));

    private readonly TimeProvider _time = timeProvider ?? TimeProvider.System;
    private readonly SemaphoreSlim _gate = new(1, 1);

    [GeneratedRegex("^[a-z][a-z0-9.]{3,24}$", RegexOptions.CultureInvariant)]
    private static partial Regex NamePattern();

    [GeneratedRegex("^[a-z][a-z0-9_-]{0,31}$", RegexOptions.CultureInvariant)]
    private static partial Regex RolePattern();

    /// <summary>Throws <see cref="InvalidUserNameException"/> unless <paramref name="name"/> matches <c>^[a-z][a-z0-9.]{3,24}$</c>.</summary>
    public static void ValidateName(string? name)
    {
        if (name is null || !NamePattern().IsMatch(name))
        {
            throw new InvalidUserNameException(name ?? "");
        }
    }

    private static void ValidatePassword(string password)
    {
        ArgumentNullException.ThrowIfNull(password);
        if (password.Length is 0 or > MaxPasswordLength)
        {
            throw new ArgumentException($"A password must have 1 to {MaxPasswordLength} characters.", nameof(password));
        }
    }

    private static void ValidateRole(string role)
    {
        if (role is null || !RolePattern().IsMatch(role))
        {
            throw new ArgumentException("A role must match ^[a-z][a-z0-9_-]{0,31}$.", nameof(role));
        }
    }

    private static string? CheckDisplayName(string? displayName)
    {
        if (displayName is not null)
        {
            EntityValues.CheckLineValue(displayName, "display_name");
        }
        return string.IsNullOrEmpty(displayName) ? null : displayName;
    }

    public async ValueTask<User> CreateAsync(string name, string password, string role = UserRoles.User, string? displayName = null, Guid? domainId = null, CancellationToken cancellationToken = default)
    {
        ValidateName(name);
        ValidatePassword(password);
        ValidateRole(role);
        displayName = CheckDisplayName(displayName);
        var domain = domainId is { } d
            ? await domains.GetAsync(d, cancellationToken).ConfigureAwait(false) ?? throw new EntityNotFoundException("domain", d.ToString("D"))
            : await domains.EnsureDefaultAsync(cancellationToken).ConfigureAwait(false);

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var id = Guid.NewGuid();
            var now = DateTimeOffset.FromUnixTimeMilliseconds(_time.GetUtcNow().ToUnixTimeMilliseconds());
            var node = EntityPaths.User(id);
            var values = new RegistryBatch()
                .SetValue(node, "name", name)
                .SetValue(node, "created_date", EntityValues.FormatTime(now))
                .SetValue(node, PasswordHash, Hasher.HashPassword(HashSubject, password))
                .SetValue(node, "domain", domain.Id.ToString("D"))
                .SetValue(node, "role", role)
                .SetValue(node, EntityPaths.Version, CurrentVersion.ToString(System.Globalization.CultureInfo.InvariantCulture));
            if (displayName is not null)
            {
                values.SetValue(node, "display_name", displayName);
            }
            if (await UniqueIndex.ClaimAsync(registry, EntityPaths.UserByName(name), id, IsLiveAsync(name, cancellationToken), values, cancellationToken).ConfigureAwait(false) is not null)
            {
                throw new DuplicateNameException(Kind, name);
            }
            await registry.CheckAsync(EntityPaths.User(id).Child("settings"), cancellationToken).ConfigureAwait(false);
            await registry.CheckAsync(DomainUser(domain.Id, id), cancellationToken).ConfigureAwait(false);
            return new User(id, name, displayName, domain.Id, role, now);
        }
        finally
        {
            _gate.Release();
        }
    }

    private static RegistryPath DomainUser(Guid domainId, Guid userId) => EntityPaths.Domain(domainId).Child("users").Child(userId.ToString("D"));

    private Func<Guid, ValueTask<bool>> IsLiveAsync(string name, CancellationToken cancellationToken)
        => async id => (await GetAsync(id, cancellationToken).ConfigureAwait(false))?.Name == name;

    public async ValueTask<User?> GetAsync(Guid id, CancellationToken cancellationToken = default)
        => (await LoadAsync(id, cancellationToken).ConfigureAwait(false))?.User;

    private async ValueTask<(User User, IReadOnlyDictionary<string, string> Values)?> LoadAsync(Guid id, CancellationToken cancellationToken)
    {
        var path = EntityPaths.User(id);
        var values = await EntityVersioning.LoadAsync(registry, path, CurrentVersion, Steps, cancellationToken).ConfigureAwait(false);
        if (values is null || EntityValues.Text(values, "name") is not { } name)
        {
            return null;
        }
        var user = new User(
            id,
            name,
            EntityValues.Text(values, "display_name"),
            EntityValues.Id(values, "domain") ?? Guid.Empty,
            EntityValues.Text(values, "role") ?? UserRoles.User,
            EntityValues.Time(values, "created_date") ?? DateTimeOffset.UnixEpoch);
        return (user, values);
    }

    private async ValueTask<User> RequireAsync(Guid id, CancellationToken cancellationToken)
        => await GetAsync(id, cancellationToken).ConfigureAwait(false) ?? throw new EntityNotFoundException(Kind, id.ToString("D"));

    public async ValueTask<User?> GetByNameAsync(string name, CancellationToken cancellationToken = default)
    {
        ValidateName(name);
        if (await UniqueIndex.ReadAsync(registry, EntityPaths.UserByName(name), cancellationToken).ConfigureAwait(false) is not { } id)
        {
            return null;
        }
        var user = await GetAsync(id, cancellationToken).ConfigureAwait(false);
        return user?.Name == name ? user : null;
    }

    public async ValueTask<User?> VerifyPasswordAsync(string name, string password, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(password);
        (User User, IReadOnlyDictionary<string, string> Values)? loaded = null;
        if (name is not null && NamePattern().IsMatch(name)
            && await UniqueIndex.ReadAsync(registry, EntityPaths.UserByName(name), cancellationToken).ConfigureAwait(false) is { } id)
        {
            loaded = await LoadAsync(id, cancellationToken).ConfigureAwait(false);
            if (loaded?.User.Name != name)
            {
                loaded = null;
            }
        }
        var hash = loaded is { } l && EntityValues.Text(l.Values, PasswordHash) is { } h ? h : DummyHash.Value;
        var candidate = password.Length > MaxPasswordLength ? "" : password;
        var result = Hasher.VerifyHashedPassword(HashSubject, hash, candidate);
        if (loaded is not { } found || result == PasswordVerificationResult.Failed || candidate.Length == 0)
        {
            return null;
        }
        if (result == PasswordVerificationResult.SuccessRehashNeeded)
        {
            await registry.CompareAndSetValueAsync(EntityPaths.User(found.User.Id), PasswordHash, hash, Hasher.HashPassword(HashSubject, password), cancellationToken).ConfigureAwait(false);
        }
        return found.User;
    }

    private static string NewSecurityStamp() => Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));

    public async ValueTask<string?> GetSecurityStampAsync(Guid id, CancellationToken cancellationToken = default)
        => await LoadAsync(id, cancellationToken).ConfigureAwait(false) is { } loaded
            ? loaded.Values.TryGetValue(SecurityStamp, out var stamp) ? stamp : ""
            : null;

    public async ValueTask SetPasswordAsync(Guid id, string password, CancellationToken cancellationToken = default)
    {
        ValidatePassword(password);
        await RequireAsync(id, cancellationToken).ConfigureAwait(false);
        // One write: the new password never goes with the old stamp.
        await registry.SetValuesAsync(EntityPaths.User(id), new Dictionary<string, string>
        {
            [PasswordHash] = Hasher.HashPassword(HashSubject, password),
            [SecurityStamp] = NewSecurityStamp(),
        }, cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<User> RenameAsync(Guid id, string newName, CancellationToken cancellationToken = default)
    {
        ValidateName(newName);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var user = await RequireAsync(id, cancellationToken).ConfigureAwait(false);
            if (user.Name == newName)
            {
                return user;
            }
            var rename = new RegistryBatch().SetValue(EntityPaths.User(id), "name", newName);
            if (await UniqueIndex.ClaimAsync(registry, EntityPaths.UserByName(newName), id, IsLiveAsync(newName, cancellationToken), rename, cancellationToken).ConfigureAwait(false) is not null)
            {
                throw new DuplicateNameException(Kind, newName);
            }
            await UniqueIndex.ReleaseAsync(registry, EntityPaths.UserByName(user.Name), id, cancellationToken).ConfigureAwait(false);
            return user with { Name = newName };
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask<User> SetDisplayNameAsync(Guid id, string? displayName, CancellationToken cancellationToken = default)
    {
        displayName = CheckDisplayName(displayName);
        var user = await RequireAsync(id, cancellationToken).ConfigureAwait(false);
        if (displayName is null)
        {
            await registry.DeleteValueAsync(EntityPaths.User(id), "display_name", cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await registry.SetValueAsync(EntityPaths.User(id), "display_name", displayName, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        return user with { DisplayName = displayName };
    }

    public async ValueTask<User> SetRoleAsync(Guid id, string role, CancellationToken cancellationToken = default)
    {
        ValidateRole(role);
        var user = await RequireAsync(id, cancellationToken).ConfigureAwait(false);
        await registry.SetValueAsync(EntityPaths.User(id), "role", role, cancellationToken: cancellationToken).ConfigureAwait(false);
        return user with { Role = role };
    }

    public async ValueTask<User> SetDomainAsync(Guid id, Guid domainId, CancellationToken cancellationToken = default)
    {
        var user = await RequireAsync(id, cancellationToken).ConfigureAwait(false);
        _ = await domains.GetAsync(domainId, cancellationToken).ConfigureAwait(false) ?? throw new EntityNotFoundException("domain", domainId.ToString("D"));
        if (user.DomainId == domainId)
        {
            return user;
        }
        // New membership first, then the value, then the old membership: a crash leaves the user listed twice, never nowhere.
        await registry.CheckAsync(DomainUser(domainId, id), cancellationToken).ConfigureAwait(false);
        await registry.SetValueAsync(EntityPaths.User(id), "domain", domainId.ToString("D"), cancellationToken: cancellationToken).ConfigureAwait(false);
        if (user.DomainId != Guid.Empty)
        {
            await registry.DeleteAsync(DomainUser(user.DomainId, id), hard: true, cancellationToken).ConfigureAwait(false);
        }
        return user with { DomainId = domainId };
    }

    public async ValueTask<bool> DeleteAsync(Guid id, CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (await GetAsync(id, cancellationToken).ConfigureAwait(false) is not { } user)
            {
                return false;
            }
            await registry.DeleteAsync(EntityPaths.User(id), cancellationToken: cancellationToken).ConfigureAwait(false);
            await UniqueIndex.ReleaseAsync(registry, EntityPaths.UserByName(user.Name), id, cancellationToken).ConfigureAwait(false);
            if (user.DomainId != Guid.Empty)
            {
                await registry.DeleteAsync(DomainUser(user.DomainId, id), hard: true, cancellationToken).ConfigureAwait(false);
            }
            return true;
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask<IReadOnlyList<User>> ListAsync(CancellationToken cancellationToken = default)
    {
        var result = new List<User>();
        foreach (var id in EntityPaths.Ids(await registry.GetChildrenAsync(EntityPaths.Users, cancellationToken: cancellationToken).ConfigureAwait(false)))
        {
            if (await GetAsync(id, cancellationToken).ConfigureAwait(false) is { } user)
            {
                result.Add(user);
            }
        }
        result.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        return result;
    }

    public async ValueTask<bool> AnyUsersAsync(CancellationToken cancellationToken = default)
    {
        foreach (var id in EntityPaths.Ids(await registry.GetChildrenAsync(EntityPaths.Users, cancellationToken: cancellationToken).ConfigureAwait(false)))
        {
            if (await GetAsync(id, cancellationToken).ConfigureAwait(false) is not null)
            {
                return true;
            }
        }
        return false;
    }

    public async ValueTask<IReadOnlyDictionary<string, string>> GetSettingsAsync(Guid id, CancellationToken cancellationToken = default)
    {
        await RequireAsync(id, cancellationToken).ConfigureAwait(false);
        return await registry.GetValuesAsync(EntityPaths.User(id).Child("settings"), cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask SetSettingAsync(Guid id, string name, string value, CancellationToken cancellationToken = default)
    {
        RegistryLimits.Check(name, value);
        await RequireAsync(id, cancellationToken).ConfigureAwait(false);
        await registry.SetValueAsync(EntityPaths.User(id).Child("settings"), name, value, cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<bool> DeleteSettingAsync(Guid id, string name, CancellationToken cancellationToken = default)
    {
        await RequireAsync(id, cancellationToken).ConfigureAwait(false);
        return await registry.DeleteValueAsync(EntityPaths.User(id).Child("settings"), name, cancellationToken).ConfigureAwait(false);
    }
}
