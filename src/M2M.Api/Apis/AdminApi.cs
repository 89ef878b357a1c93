using System.ComponentModel.DataAnnotations;
using M2M.Api.Http;
using M2M.Storage.Entities;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace M2M.Api.Apis;

/// <summary><c>/api/domains</c> and <c>/api/users</c>: administrators manage domains and users.</summary>
public static class AdminApi
{
    private const string DomainCursor = "dom";
    private const string UserCursor = "usr";

    /// <summary>Largest page of domains or users.</summary>
    public const int MaxLimit = 1000;

    /// <summary>Longest accepted password.</summary>
    public const int MaxPasswordLength = 256;

    /// <summary>Shortest accepted password.</summary>
    public const int MinPasswordLength = 8;

    public static IEndpointRouteBuilder MapAdminApi(this IEndpointRouteBuilder routes)
    {
        var domains = routes.MapGroup("/domains").WithTags("Domains").RequireAuthorization(ApiExtensions.AdminPolicy);
        domains.MapGet("", ListDomainsAsync).WithName("listDomains").WithSummary("Every domain, sorted by name.");
        domains.MapPost("", CreateDomainAsync).WithName("createDomain").WithSummary("Create a domain.");
        domains.MapGet("/{id}", GetDomainAsync).WithName("getDomain").WithSummary("One domain.");
        domains.MapPatch("/{id}", RenameDomainAsync).WithName("renameDomain").WithSummary("Rename a domain.");
        domains.MapDelete("/{id}", DeleteDomainAsync).WithName("deleteDomain").WithSummary("Delete an empty domain.");
        domains.MapPut("/{id}/retention", SetDomainRetentionAsync).WithName("setDomainRetention")
            .WithSummary("Set (months: 1–1200) or clear (months: null) the domain's own retention of time series.");

        var users = routes.MapGroup("/users").WithTags("Users").RequireAuthorization(ApiExtensions.AdminPolicy);
        users.MapGet("", ListUsersAsync).WithName("listUsers").WithSummary("Every user, sorted by name.");
        users.MapPost("", CreateUserAsync).WithName("createUser").WithSummary("Create a user in a domain (by name).");
        users.MapGet("/{id}", GetUserAsync).WithName("getUser").WithSummary("One user.");
        users.MapPatch("/{id}", UpdateUserAsync).WithName("updateUser").WithSummary("Rename a user, change the display name or role, or move the user to another domain.");
        users.MapPut("/{id}/password", SetPasswordAsync).WithName("setUserPassword").WithSummary("Replace a user's password.");
        users.MapDelete("/{id}", DeleteUserAsync).WithName("deleteUser").WithSummary("Delete a user.");
        return routes;
    }

    // ---- domains ----

    internal static async Task<Results<Ok<Page<DomainView>>, ValidationProblem>> ListDomainsAsync(IDomainStore domains, CancellationToken cancellationToken, [Range(1, MaxLimit)] int? limit = null, string? cursor = null)
    {
        if (!Validation.TryLimit(limit, 100, MaxLimit, out var size, out var invalid))
        {
            return invalid;
        }
        string? after = null;
        if (cursor is not null && !Cursor.TryDecode(DomainCursor, cursor, out after))
        {
            return Validation.Problem("cursor", "Not a cursor of this list.");
        }
        var all = await domains.ListAsync(cancellationToken);
        var (items, next) = Slice(all, d => d.Name, after, size);
        return TypedResults.Ok(new Page<DomainView>([.. items.Select(DomainView.From)], Cursor.Encode(DomainCursor, next)));
    }

    internal static async Task<Results<Created<DomainView>, ValidationProblem, ProblemHttpResult>> CreateDomainAsync(CreateDomainRequest request, IDomainStore domains, CancellationToken cancellationToken)
    {
        try
        {
            var domain = await domains.CreateAsync(request.Name, cancellationToken);
            return TypedResults.Created($"/api/domains/{domain.Id:D}", DomainView.From(domain));
        }
        catch (InvalidDomainNameException e)
        {
            return Validation.Problem("name", e.Message);
        }
        catch (DuplicateNameException e)
        {
            return TypedResults.Problem(title: e.Message, statusCode: StatusCodes.Status409Conflict);
        }
    }

    internal static async Task<Results<Ok<DomainView>, NotFound, ValidationProblem>> GetDomainAsync(string id, IDomainStore domains, CancellationToken cancellationToken)
    {
        if (!Validation.TryParseId(id, "id", out var domainId, out var invalid))
        {
            return invalid;
        }
        return await domains.GetAsync(domainId, cancellationToken) is { } domain ? TypedResults.Ok(DomainView.From(domain)) : TypedResults.NotFound();
    }

    internal static async Task<Results<Ok<DomainView>, NotFound, ValidationProblem, ProblemHttpResult>> RenameDomainAsync(string id, RenameRequest request, IDomainStore domains, CancellationToken cancellationToken)
    {
        if (!Validation.TryParseId(id, "id", out var domainId, out var invalid))
        {
            return invalid;
        }
        if (await domains.GetAsync(domainId, cancellationToken) is null)
        {
            return TypedResults.NotFound();
        }
        try
        {
            return TypedResults.Ok(DomainView.From(await domains.RenameAsync(domainId, request.Name, cancellationToken)));
        }
        catch (InvalidDomainNameException e)
        {
            return Validation.Problem("name", e.Message);
        }
        catch (Exception e) when (e is DuplicateNameException or EntityInUseException or InvalidOperationException)
        {
            return TypedResults.Problem(title: e.Message, statusCode: StatusCodes.Status409Conflict);
        }
    }

    internal static async Task<Results<NoContent, NotFound, ValidationProblem, ProblemHttpResult>> DeleteDomainAsync(string id, IDomainStore domains, CancellationToken cancellationToken)
    {
        if (!Validation.TryParseId(id, "id", out var domainId, out var invalid))
        {
            return invalid;
        }
        try
        {
            return await domains.DeleteAsync(domainId, cancellationToken) ? TypedResults.NoContent() : TypedResults.NotFound();
        }
        catch (EntityInUseException e)
        {
            return TypedResults.Problem(title: e.Message, statusCode: StatusCodes.Status409Conflict);
        }
    }

    internal static async Task<Results<Ok<DomainView>, NotFound, ValidationProblem>> SetDomainRetentionAsync(string id, DomainRetentionRequest request, IDomainStore domains, CancellationToken cancellationToken)
    {
        if (!Validation.TryParseId(id, "id", out var domainId, out var invalid))
        {
            return invalid;
        }
        if (request.Months is < 1 or > IDomainStore.MaxRetentionMonths)
        {
            return Validation.Problem("months", $"Must be 1 to {IDomainStore.MaxRetentionMonths}, or null to use the global retention.");
        }
        if (await domains.GetAsync(domainId, cancellationToken) is null)
        {
            return TypedResults.NotFound();
        }
        return TypedResults.Ok(DomainView.From(await domains.SetRetentionAsync(domainId, request.Months, cancellationToken)));
    }

    // ---- users ----

    internal static async Task<Results<Ok<Page<UserView>>, ValidationProblem>> ListUsersAsync(IUserStore users, IDomainStore domains, CancellationToken cancellationToken, [Range(1, MaxLimit)] int? limit = null, string? cursor = null)
    {
        if (!Validation.TryLimit(limit, 100, MaxLimit, out var size, out var invalid))
        {
            return invalid;
        }
        string? after = null;
        if (cursor is not null && !Cursor.TryDecode(UserCursor, cursor, out after))
        {
            return Validation.Problem("cursor", "Not a cursor of this list.");
        }
        var all = await users.ListAsync(cancellationToken);
        var (items, next) = Slice(all, u => u.Name, after, size);
        var views = new List<UserView>(items.Count);
        var names = new Dictionary<Guid, string>();
        foreach (var user in items)
        {
            views.Add(await UserView.FromAsync(user, domains, names, cancellationToken));
        }
        return TypedResults.Ok(new Page<UserView>(views, Cursor.Encode(UserCursor, next)));
    }

    internal static async Task<Results<Created<UserView>, ValidationProblem, ProblemHttpResult>> CreateUserAsync(
        CreateUserRequest request, IUserStore users, IDomainStore domains, CancellationToken cancellationToken)
    {
        if (CheckPassword(request.Password) is { } passwordError)
        {
            return Validation.Problem("password", passwordError);
        }
        var domain = await domains.GetByNameAsync(request.Domain, cancellationToken);
        if (domain is null)
        {
            return Validation.Problem("domain", "Unknown domain.");
        }
        try
        {
            var user = await users.CreateAsync(request.Name, request.Password, request.Role ?? UserRoles.User, request.DisplayName, domain.Id, cancellationToken);
            return TypedResults.Created($"/api/users/{user.Id:D}", await UserView.FromAsync(user, domains, [], cancellationToken));
        }
        catch (InvalidUserNameException e)
        {
            return Validation.Problem("name", e.Message);
        }
        catch (DuplicateNameException e)
        {
            return TypedResults.Problem(title: e.Message, statusCode: StatusCodes.Status409Conflict);
        }
        catch (ArgumentException e)
        {
            return Validation.Problem("role", e.Message);
        }
    }

    internal static async Task<Results<Ok<UserView>, NotFound, ValidationProblem>> GetUserAsync(string id, IUserStore users, IDomainStore domains, CancellationToken cancellationToken)
    {
        if (!Validation.TryParseId(id, "id", out var userId, out var invalid))
        {
            return invalid;
        }
        return await users.GetAsync(userId, cancellationToken) is { } user ? TypedResults.Ok(await UserView.FromAsync(user, domains, [], cancellationToken)) : TypedResults.NotFound();
    }

    internal static async Task<Results<Ok<UserView>, NotFound, ValidationProblem, ProblemHttpResult>> UpdateUserAsync(
        string id, UpdateUserRequest request, IUserStore users, IDomainStore domains, CancellationToken cancellationToken)
    {
        if (!Validation.TryParseId(id, "id", out var userId, out var invalid))
        {
            return invalid;
        }
        if (request.DisplayName is { Length: > 200 })
        {
            return Validation.Problem("displayName", "Longer than 200 characters.");
        }
        var user = await users.GetAsync(userId, cancellationToken);
        if (user is null)
        {
            return TypedResults.NotFound();
        }
        Domain? domain = null;
        if (request.Domain is not null && (domain = await domains.GetByNameAsync(request.Domain, cancellationToken)) is null)
        {
            return Validation.Problem("domain", "Unknown domain.");
        }
        try
        {
            if (request.Name is not null && request.Name != user.Name)
            {
                user = await users.RenameAsync(userId, request.Name, cancellationToken);
            }
            if (request.DisplayName is not null)
            {
                user = await users.SetDisplayNameAsync(userId, request.DisplayName.Length == 0 ? null : request.DisplayName, cancellationToken);
            }
            if (request.Role is not null && request.Role != user.Role)
            {
                user = await users.SetRoleAsync(userId, request.Role, cancellationToken);
            }
            if (domain is not null && domain.Id != user.DomainId)
            {
                user = await users.SetDomainAsync(userId, domain.Id, cancellationToken);
            }
        }
        catch (InvalidUserNameException e)
        {
            return Validation.Problem("name", e.Message);
        }
        catch (DuplicateNameException e)
        {
            return TypedResults.Problem(title: e.Message, statusCode: StatusCodes.Status409Conflict);
        }
        catch (ArgumentException e)
        {
            return Validation.Problem("role", e.Message);
        }
        return TypedResults.Ok(await UserView.FromAsync(user, domains, [], cancellationToken));
    }

    internal static async Task<Results<NoContent, NotFound, ValidationProblem>> SetPasswordAsync(string id, SetPasswordRequest request, IUserStore users, CancellationToken cancellationToken)
    {
        if (!Validation.TryParseId(id, "id", out var userId, out var invalid))
        {
            return invalid;
        }
        if (CheckPassword(request.Password) is { } error)
        {
            return Validation.Problem("password", error);
        }
        if (await users.GetAsync(userId, cancellationToken) is null)
        {
            return TypedResults.NotFound();
        }
        await users.SetPasswordAsync(userId, request.Password, cancellationToken);
        return TypedResults.NoContent();
    }

    internal static async Task<Results<NoContent, NotFound, ValidationProblem>> DeleteUserAsync(string id, IUserStore users, CancellationToken cancellationToken)
    {
        if (!Validation.TryParseId(id, "id", out var userId, out var invalid))
        {
            return invalid;
        }
        return await users.DeleteAsync(userId, cancellationToken) ? TypedResults.NoContent() : TypedResults.NotFound();
    }

    private static string? CheckPassword(string? password) =>
        password is null || password.Length < MinPasswordLength ? $"At least {MinPasswordLength} characters."
        : password.Length > MaxPasswordLength ? $"At most {MaxPasswordLength} characters."
        : null;

    /// <summary>A page of a list sorted by <paramref name="key"/>: the items after <paramref name="after"/>.</summary>
    private static (List<T> Items, string? Next) Slice<T>(IReadOnlyList<T> sorted, Func<T, string> key, string? after, int size)
    {
        var items = new List<T>(Math.Min(size, sorted.Count));
        foreach (var item in sorted)
        {
            if (after is not null && string.CompareOrdinal(key(item), after) <= 0)
            {
                continue;
            }
            if (items.Count == size)
            {
                return (items, key(items[^1]));
            }
            items.Add(item);
        }
        return (items, null);
    }
}

/// <summary>A domain; <c>retentionMonths</c> is its own retention of time series (<c>null</c>: the global one).</summary>
public sealed record DomainView(Guid Id, string Name, DateTimeOffset CreatedAt, int? RetentionMonths)
{
    public static DomainView From(Domain d) => new(d.Id, d.Name, d.CreatedAt, d.RetentionMonths);
}

/// <summary>A domain's own retention in months (1–1200), or <c>null</c> to use the global <c>M2M:Storage:Retention:Months</c>.</summary>
public sealed record DomainRetentionRequest([property: Range(1, IDomainStore.MaxRetentionMonths)] int? Months);

/// <summary>A user as the API shows it (never a password or hash).</summary>
public sealed record UserView(Guid Id, string Name, string? DisplayName, string Domain, string Role, DateTimeOffset CreatedAt)
{
    internal static async ValueTask<UserView> FromAsync(User u, IDomainStore domains, Dictionary<Guid, string> names, CancellationToken cancellationToken)
    {
        if (!names.TryGetValue(u.DomainId, out var name))
        {
            name = (await domains.GetAsync(u.DomainId, cancellationToken))?.Name ?? u.DomainId.ToString("D");
            names[u.DomainId] = name;
        }
        return new UserView(u.Id, u.Name, u.DisplayName, name, u.Role, u.CreatedAt);
    }
}

/// <summary>A new domain.</summary>
public sealed record CreateDomainRequest(string Name);

/// <summary>A new name.</summary>
public sealed record RenameRequest(string Name);

/// <summary>A new user; <c>domain</c> by name; <c>role</c> <c>user</c> unless given (e.g. <c>admin</c>).</summary>
public sealed record CreateUserRequest(string Name, string Password, string Domain, string? Role = null, string? DisplayName = null);

/// <summary>Changes of a user: absent fields are left as they are; <c>domain</c> by name moves the user.</summary>
public sealed record UpdateUserRequest(string? Name = null, string? DisplayName = null, string? Role = null, string? Domain = null);

/// <summary>A new password.</summary>
public sealed record SetPasswordRequest(string Password);
