namespace M2M.Storage.Entities;

/// <summary>
/// Users (<c>/user/&lt;uuid&gt;/</c>, unique <c>name</c> indexed at <c>/user/by-name/&lt;name&gt;/</c>).
/// Passwords are stored only as salted PBKDF2 hashes.
/// </summary>
public interface IUserStore
{
    /// <summary>Creates a user (in the <c>default</c> domain when <paramref name="domainId"/> is null).</summary>
    /// <exception cref="InvalidUserNameException">Invalid name.</exception>
    /// <exception cref="DuplicateNameException">The name is taken.</exception>
    /// <exception cref="ArgumentException">Empty or overlong password, invalid role.</exception>
    ValueTask<User> CreateAsync(string name, string password, string role = UserRoles.User, string? displayName = null, Guid? domainId = null, CancellationToken cancellationToken = default);

    /// <summary>A user by id, or <c>null</c>.</summary>
    ValueTask<User?> GetAsync(Guid id, CancellationToken cancellationToken = default);

    /// <summary>A user by name, or <c>null</c>.</summary>
    ValueTask<User?> GetByNameAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>
    /// Checks a password in constant time (through the hasher). Returns the user when it matches,
    /// <c>null</c> otherwise (also for an unknown name). Rehashes when the hasher asks for it.
    /// </summary>
    ValueTask<User?> VerifyPasswordAsync(string name, string password, CancellationToken cancellationToken = default);

    /// <summary>
    /// The user's security stamp: a random value replaced with every password change, so that
    /// credentials derived from a sign-in (refresh tokens) can tell the password changed since.
    /// <c>null</c> when the user does not exist; empty until the first password change.
    /// </summary>
    ValueTask<string?> GetSecurityStampAsync(Guid id, CancellationToken cancellationToken = default);

    /// <summary>Replaces the password (and the security stamp).</summary>
    ValueTask SetPasswordAsync(Guid id, string password, CancellationToken cancellationToken = default);

    /// <summary>Renames the user.</summary>
    /// <exception cref="InvalidUserNameException">Invalid name.</exception>
    /// <exception cref="DuplicateNameException">The name is taken.</exception>
    ValueTask<User> RenameAsync(Guid id, string newName, CancellationToken cancellationToken = default);

    /// <summary>Sets (or clears) the display name.</summary>
    ValueTask<User> SetDisplayNameAsync(Guid id, string? displayName, CancellationToken cancellationToken = default);

    /// <summary>Sets the role (e.g. <see cref="UserRoles.Admin"/>).</summary>
    ValueTask<User> SetRoleAsync(Guid id, string role, CancellationToken cancellationToken = default);

    /// <summary>Moves the user to another domain.</summary>
    ValueTask<User> SetDomainAsync(Guid id, Guid domainId, CancellationToken cancellationToken = default);

    /// <summary>Soft-deletes the user and frees its name; <c>false</c> when unknown.</summary>
    ValueTask<bool> DeleteAsync(Guid id, CancellationToken cancellationToken = default);

    /// <summary>Every user, sorted by name.</summary>
    ValueTask<IReadOnlyList<User>> ListAsync(CancellationToken cancellationToken = default);

    /// <summary><c>true</c> when at least one user exists (e.g. to decide whether to create a first admin).</summary>
    ValueTask<bool> AnyUsersAsync(CancellationToken cancellationToken = default);

    /// <summary>The user's settings (<c>settings/</c>).</summary>
    ValueTask<IReadOnlyDictionary<string, string>> GetSettingsAsync(Guid id, CancellationToken cancellationToken = default);

    /// <summary>Sets one user setting.</summary>
    ValueTask SetSettingAsync(Guid id, string name, string value, CancellationToken cancellationToken = default);

    /// <summary>Deletes one user setting; <c>false</c> when absent.</summary>
    ValueTask<bool> DeleteSettingAsync(Guid id, string name, CancellationToken cancellationToken = default);
}

/// <summary>A user (never carries the password or its hash).</summary>
public sealed record User(Guid Id, string Name, string? DisplayName, Guid DomainId, string Role, DateTimeOffset CreatedAt);

/// <summary>Well-known roles. Any role matching <c>^[a-z][a-z0-9_-]{0,31}$</c> is accepted.</summary>
public static class UserRoles
{
    /// <summary>Administrator: every domain.</summary>
    public const string Admin = "admin";

    /// <summary>Ordinary user of a domain.</summary>
    public const string User = "user";
}
