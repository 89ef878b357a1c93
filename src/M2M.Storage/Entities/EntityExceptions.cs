namespace M2M.Storage.Entities;

/// <summary>An entity (device, domain, user, command) with the given id or name does not exist (or is deleted).</summary>
public sealed class EntityNotFoundException(string kind, string key) : KeyNotFoundException($"{kind} '{key}' was not found.")
{
    /// <summary>The kind of entity, e.g. <c>device</c>.</summary>
    public string Kind { get; } = kind;

    /// <summary>The id or name that was looked up.</summary>
    public string Key { get; } = key;
}

/// <summary>A unique name (device ident, domain name, user name) is already taken.</summary>
public sealed class DuplicateNameException(string kind, string name) : InvalidOperationException($"{kind} '{name}' already exists.")
{
    /// <summary>The kind of entity.</summary>
    public string Kind { get; } = kind;

    /// <summary>The taken name.</summary>
    public string Name { get; } = name;
}

/// <summary>An entity cannot be deleted or changed because something still uses it (e.g. a domain with devices).</summary>
public sealed class EntityInUseException(string message) : InvalidOperationException(message);

/// <summary>Base type of the validation errors of entity names and values.</summary>
public class EntityValidationException(string message) : ArgumentException(message);

/// <summary>A device ident is not valid (1–255 printable ASCII characters without spaces).</summary>
public sealed class InvalidIdentException(string ident, string reason) : EntityValidationException($"Invalid ident: {reason}.")
{
    /// <summary>The rejected ident.</summary>
    public string Ident { get; } = ident;
}

/// <summary>A user name does not match <c>^[a-z][a-z0-9.]{3,24}$</c>.</summary>
public sealed class InvalidUserNameException(string name) : EntityValidationException("Invalid user name: expected a lowercase letter then 3 to 24 lowercase letters, digits or dots.")
{
    /// <summary>The rejected name.</summary>
    public string Name { get; } = name;
}

/// <summary>A domain name does not match <c>^[a-z0-9][a-z0-9._-]{0,62}$</c>.</summary>
public sealed class InvalidDomainNameException(string name) : EntityValidationException("Invalid domain name: expected 1 to 63 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit.")
{
    /// <summary>The rejected name.</summary>
    public string Name { get; } = name;
}
