using System.ComponentModel.DataAnnotations;
using M2M.Api.Auth;
using M2M.Api.Http;
using M2M.Storage.Entities;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace M2M.Api.Apis;

/// <summary><c>/api/apikeys</c>: administrators create, list and revoke the API keys of applications.</summary>
public static class ApiKeysApi
{
    private const string CursorKind = "key";

    /// <summary>Largest page of keys.</summary>
    public const int MaxLimit = 1000;

    public static RouteGroupBuilder MapApiKeysApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/apikeys").WithTags("API keys").RequireAuthorization(ApiExtensions.AdminPolicy);
        group.MapGet("", ListAsync).WithName("listApiKeys").WithSummary("Every live API key (never a secret), oldest first, optionally of one domain.");
        group.MapPost("", CreateAsync).WithName("createApiKey").WithSummary("Create an API key for a domain; the answer holds the key, shown this once only.");
        group.MapGet("/{id}", GetAsync).WithName("getApiKey").WithSummary("One API key (never its secret).");
        group.MapDelete("/{id}", RevokeAsync).WithName("revokeApiKey").WithSummary("Revoke an API key: it is refused from the next request on.");
        return group;
    }

    internal static async Task<Results<Ok<Page<ApiKeyView>>, ValidationProblem>> ListAsync(
        IApiKeyStore keys, IDomainStore domains, CancellationToken cancellationToken, string? domain = null, [Range(1, MaxLimit)] int? limit = null, string? cursor = null)
    {
        if (!Validation.TryLimit(limit, 100, MaxLimit, out var size, out var invalid))
        {
            return invalid;
        }
        string? after = null;
        if (cursor is not null && (!Cursor.TryDecode(CursorKind, cursor, out after) || !Guid.TryParse(after, out _)))
        {
            return Validation.Problem("cursor", "Not a cursor of this list.");
        }
        Guid? domainId = null;
        if (domain is not null)
        {
            if (await FindDomainAsync(domains, domain, cancellationToken) is not { } found)
            {
                return Validation.Problem("domain", "Unknown domain.");
            }
            domainId = found.Id;
        }
        var all = await keys.ListAsync(cancellationToken);
        var items = new List<ApiKeyView>(Math.Min(size, all.Count));
        var names = new Dictionary<Guid, string>();
        // Sorted by creation: the cursor is the last id seen, found again in the sorted list.
        var start = after is null ? 0 : IndexAfter(all, Guid.Parse(after));
        string? next = null;
        for (var i = start; i < all.Count; i++)
        {
            if (domainId is not null && all[i].DomainId != domainId)
            {
                continue;
            }
            if (items.Count == size)
            {
                next = items[^1].Id.ToString("D");
                break;
            }
            items.Add(await ApiKeyView.FromAsync(all[i], domains, names, cancellationToken));
        }
        return TypedResults.Ok(new Page<ApiKeyView>(items, Cursor.Encode(CursorKind, next)));
    }

    /// <summary>A domain by name; <c>null</c> for an unknown or malformed name (both are "unknown domain" here).</summary>
    private static async ValueTask<Domain?> FindDomainAsync(IDomainStore domains, string name, CancellationToken cancellationToken)
    {
        try
        {
            return await domains.GetByNameAsync(name, cancellationToken);
        }
        catch (InvalidDomainNameException)
        {
            return null;
        }
    }

    private static int IndexAfter(IReadOnlyList<ApiKey> sorted, Guid id)
    {
        for (var i = 0; i < sorted.Count; i++)
        {
            if (sorted[i].Id == id)
            {
                return i + 1;
            }
        }
        // The key of the cursor was revoked since: nothing after it can be located, start over.
        return 0;
    }

    internal static async Task<Results<Created<ApiKeyCreated>, ValidationProblem>> CreateAsync(
        CreateApiKeyRequest request, HttpContext context, IApiKeyStore keys, IDomainStore domains, CredentialHasher hasher, TimeProvider time, CancellationToken cancellationToken)
    {
        if (!ApiKeyStore.IsValidName(request.Name))
        {
            return Validation.Problem("name", $"1 to {ApiKeyStore.MaxNameLength} characters without control characters.");
        }
        if (!ApiKeyScopes.IsValid(request.Scope))
        {
            return Validation.Problem("scope", "Must be 'read' or 'write'.");
        }
        if (request.ExpiresAt is { } expires && expires <= time.GetUtcNow())
        {
            return Validation.Problem("expiresAt", "Must be in the future.");
        }
        if (await FindDomainAsync(domains, request.Domain, cancellationToken) is not { } domain)
        {
            return Validation.Problem("domain", "Unknown domain.");
        }
        var id = Guid.NewGuid();
        var secret = CredentialToken.Create(CredentialToken.ApiKeyPrefix, id);
        var admin = Caller.From(context.User);
        var key = await keys.CreateAsync(new ApiKeyDraft(id, request.Name, domain.Id, request.Scope, request.ExpiresAt, admin.UserId, hasher.Hash(secret)), cancellationToken);
        return TypedResults.Created($"/api/apikeys/{id:D}", new ApiKeyCreated(key.Id, key.Name, domain.Name, key.Scope, key.CreatedAt, key.ExpiresAt, secret));
    }

    internal static async Task<Results<Ok<ApiKeyView>, NotFound, ValidationProblem>> GetAsync(string id, IApiKeyStore keys, IDomainStore domains, CancellationToken cancellationToken)
    {
        if (!Validation.TryParseId(id, "id", out var keyId, out var invalid))
        {
            return invalid;
        }
        return await keys.GetAsync(keyId, cancellationToken) is { } key
            ? TypedResults.Ok(await ApiKeyView.FromAsync(key, domains, [], cancellationToken))
            : TypedResults.NotFound();
    }

    internal static async Task<Results<NoContent, NotFound, ValidationProblem>> RevokeAsync(string id, IApiKeyStore keys, CancellationToken cancellationToken)
    {
        if (!Validation.TryParseId(id, "id", out var keyId, out var invalid))
        {
            return invalid;
        }
        return await keys.RevokeAsync(keyId, cancellationToken) ? TypedResults.NoContent() : TypedResults.NotFound();
    }
}

/// <summary>A new API key: a name for people, the domain (by name) it acts in, its scope and an optional expiry.</summary>
public sealed record CreateApiKeyRequest(string Name, string Domain, string Scope, DateTimeOffset? ExpiresAt = null);

/// <summary>An API key as the API shows it: never the secret nor its hash.</summary>
public sealed record ApiKeyView(Guid Id, string Name, string Domain, string Scope, DateTimeOffset CreatedAt, DateTimeOffset? ExpiresAt, DateTimeOffset? LastUsedAt, Guid? CreatedBy)
{
    internal static async ValueTask<ApiKeyView> FromAsync(ApiKey k, IDomainStore domains, Dictionary<Guid, string> names, CancellationToken cancellationToken)
    {
        if (!names.TryGetValue(k.DomainId, out var name))
        {
            name = (await domains.GetAsync(k.DomainId, cancellationToken))?.Name ?? k.DomainId.ToString("D");
            names[k.DomainId] = name;
        }
        return new ApiKeyView(k.Id, k.Name, name, k.Scope, k.CreatedAt, k.ExpiresAt, k.LastUsedAt, k.CreatedBy);
    }
}

/// <summary>A created key with its secret, <c>key</c>: shown this once, stored nowhere.</summary>
public sealed record ApiKeyCreated(Guid Id, string Name, string Domain, string Scope, DateTimeOffset CreatedAt, DateTimeOffset? ExpiresAt, string Key);
