using Microsoft.Extensions.DependencyInjection;
using System.ComponentModel.DataAnnotations;
using M2M.Api.Auth;
using M2M.Api.Http;
using M2M.Forwarding;
using M2M.Storage.Entities;
using M2M.Storage.Forwarding;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;

namespace M2M.Api.Apis;

/// <summary>
/// <c>/api/webhooks</c>: forwarding endpoints of a domain (<c>docs/forwarding.md</c>). Administrators
/// manage those of every domain; a domain's users (and its <c>write</c> API keys) those of their own
/// domain, and theirs deliver to public addresses only. Others' endpoints answer 404.
/// </summary>
public static class WebhooksApi
{
    public static RouteGroupBuilder MapWebhooksApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/webhooks").WithTags("Webhooks");
        group.MapGet("", ListAsync).WithName("listWebhooks").WithSummary("The webhook endpoints the caller may see (optionally of one domain), with their delivery status.");
        group.MapPost("", CreateAsync).WithName("createWebhook").WithSummary("Create a webhook endpoint; the answer holds its signing secret, shown this once only.");
        group.MapGet("/{id}", GetAsync).WithName("getWebhook").WithSummary("One webhook endpoint and its delivery status (last success, last error, attempts, backlog).");
        group.MapPatch("/{id}", UpdateAsync).WithName("updateWebhook").WithSummary("Change an endpoint's name, URL, what it receives, or pause/resume it.");
        group.MapPost("/{id}/rotate-secret", RotateAsync).WithName("rotateWebhookSecret").WithSummary("Replace the endpoint's signing secret; the answer holds the new one, shown this once only.");
        group.MapDelete("/{id}", DeleteAsync).WithName("deleteWebhook").WithSummary("Delete an endpoint; what it had not received is dropped.");
        return group;
    }

    internal static async Task<Results<Ok<Page<WebhookView>>, ValidationProblem>> ListAsync(
        [AsParameters] WebhookServices s, string? domain = null)
    {
        Guid? domainId = null;
        if (!string.IsNullOrEmpty(domain))
        {
            if (await s.FindDomainAsync(domain) is not { } found || !s.Caller.CanSee(found.Id))
            {
                return Validation.Problem("domain", "Unknown domain.");
            }
            domainId = found.Id;
        }
        var items = new List<WebhookView>();
        foreach (var webhook in await s.Webhooks.ListAsync(s.Aborted))
        {
            if (s.Caller.CanSee(webhook.DomainId) && (domainId is null || webhook.DomainId == domainId))
            {
                items.Add(await s.ViewAsync(webhook));
            }
        }
        return TypedResults.Ok(new Page<WebhookView>(items, null));
    }

    internal static async Task<Results<Created<WebhookCreated>, ValidationProblem, ProblemHttpResult>> CreateAsync(
        CreateWebhookRequest request, [AsParameters] WebhookServices s)
    {
        if (!WebhookStore.IsValidName(request.Name))
        {
            return Validation.Problem("name", $"1 to {WebhookStore.MaxNameLength} characters without control characters.");
        }
        if (!Uri.TryCreate(request.Url, UriKind.Absolute, out var url) || !WebhookStore.IsValidUrl(url))
        {
            return Validation.Problem("url", $"An absolute http or https URL without user name or password, at most {WebhookStore.MaxUrlLength} characters.");
        }
        var domainId = s.Caller.DomainId;
        if (!string.IsNullOrEmpty(request.Domain))
        {
            if (await s.FindDomainAsync(request.Domain) is not { } found || !s.Caller.CanSee(found.Id))
            {
                return Validation.Problem("domain", "Unknown domain.");
            }
            domainId = found.Id;
        }
        else if (s.Caller.IsAdmin)
        {
            domainId = (await s.Domains.EnsureDefaultAsync(s.Aborted)).Id;
        }
        var existing = (await s.Webhooks.ListAsync(s.Aborted)).Count(w => w.DomainId == domainId);
        if (existing >= s.Options.Value.MaxEndpointsPerDomain)
        {
            return TypedResults.Problem($"The domain already has {existing} webhook endpoints (M2M:Forwarding:MaxEndpointsPerDomain).", statusCode: StatusCodes.Status409Conflict);
        }
        var id = Guid.NewGuid();
        // Start at the domain's current end of the feed: an endpoint receives what is stored from now on.
        if (s.Feed is { } feed)
        {
            var last = await feed.GetLastSequenceAsync(domainId, s.Aborted);
            await feed.SetCursorAsync(id, new FeedCursor(last, last), s.Aborted);
        }
        var webhook = await s.Webhooks.CreateAsync(
            new WebhookDraft(id, request.Name, domainId, url, request.Records ?? true, request.Events ?? false, Restricted: !s.Caller.IsAdmin, s.Caller.UserId), s.Aborted);
        await s.Directory.RefreshAsync(CancellationToken.None);
        var view = await s.ViewAsync(webhook);
        return TypedResults.Created($"/api/webhooks/{id:D}", new WebhookCreated(view, s.Key.SecretFor(id, webhook.SecretGeneration)));
    }

    internal static async Task<Results<Ok<WebhookView>, NotFound, ValidationProblem>> GetAsync(string id, [AsParameters] WebhookServices s)
    {
        if (!Validation.TryParseId(id, "id", out var webhookId, out var invalid))
        {
            return invalid;
        }
        return await s.FindAsync(webhookId) is { } webhook ? TypedResults.Ok(await s.ViewAsync(webhook)) : TypedResults.NotFound();
    }

    internal static async Task<Results<Ok<WebhookView>, NotFound, ValidationProblem>> UpdateAsync(string id, UpdateWebhookRequest request, [AsParameters] WebhookServices s)
    {
        if (!Validation.TryParseId(id, "id", out var webhookId, out var invalid))
        {
            return invalid;
        }
        if (request.Name is not null && !WebhookStore.IsValidName(request.Name))
        {
            return Validation.Problem("name", $"1 to {WebhookStore.MaxNameLength} characters without control characters.");
        }
        Uri? url = null;
        if (request.Url is not null && (!Uri.TryCreate(request.Url, UriKind.Absolute, out url) || !WebhookStore.IsValidUrl(url)))
        {
            return Validation.Problem("url", $"An absolute http or https URL without user name or password, at most {WebhookStore.MaxUrlLength} characters.");
        }
        if (await s.FindAsync(webhookId) is null)
        {
            return TypedResults.NotFound();
        }
        // A URL set by a non-administrator is restricted to public addresses.
        var changes = new WebhookChanges(request.Name, url, request.Records, request.Events, request.Enabled, url is null ? null : !s.Caller.IsAdmin);
        var updated = await s.Webhooks.UpdateAsync(webhookId, changes, s.Aborted);
        await s.Directory.RefreshAsync(CancellationToken.None);
        return updated is null ? TypedResults.NotFound() : TypedResults.Ok(await s.ViewAsync(updated));
    }

    internal static async Task<Results<Ok<WebhookCreated>, NotFound, ValidationProblem>> RotateAsync(string id, [AsParameters] WebhookServices s)
    {
        if (!Validation.TryParseId(id, "id", out var webhookId, out var invalid))
        {
            return invalid;
        }
        if (await s.FindAsync(webhookId) is null || await s.Webhooks.RotateSecretAsync(webhookId, s.Aborted) is not { } rotated)
        {
            return TypedResults.NotFound();
        }
        await s.Directory.RefreshAsync(CancellationToken.None);
        return TypedResults.Ok(new WebhookCreated(await s.ViewAsync(rotated), s.Key.SecretFor(rotated.Id, rotated.SecretGeneration)));
    }

    internal static async Task<Results<NoContent, NotFound, ValidationProblem>> DeleteAsync(string id, [AsParameters] WebhookServices s)
    {
        if (!Validation.TryParseId(id, "id", out var webhookId, out var invalid))
        {
            return invalid;
        }
        if (await s.FindAsync(webhookId) is null || !await s.Webhooks.DeleteAsync(webhookId, s.Aborted))
        {
            return TypedResults.NotFound();
        }
        await s.Directory.RefreshAsync(CancellationToken.None);
        if (s.Feed is { } feed)
        {
            await feed.DeleteCursorAsync(webhookId, s.Aborted);
        }
        return TypedResults.NoContent();
    }
}

/// <summary>What the webhook routes need, bound with <c>[AsParameters]</c>.</summary>
public sealed class WebhookServices(IWebhookStore webhooks, IDomainStore domains, WebhookDirectory directory, ForwardingKey key, IOptions<ForwardingOptions> options, IServiceProvider services, HttpContext http)
{
    public IWebhookStore Webhooks { get; } = webhooks;
    public IDomainStore Domains { get; } = domains;
    public WebhookDirectory Directory { get; } = directory;
    public ForwardingKey Key { get; } = key;
    public IOptions<ForwardingOptions> Options { get; } = options;
    public IServiceProvider Services { get; } = services;
    public HttpContext Http { get; } = http;

    /// <summary>The feed, when the storage backend has one.</summary>
    public IForwardingFeed? Feed => Services.GetService<IForwardingFeed>();

    public Caller Caller => field ??= Caller.From(Http.User);

    public CancellationToken Aborted => Http.RequestAborted;

    /// <summary>The endpoint, when it exists and the caller may see it.</summary>
    public async ValueTask<Webhook?> FindAsync(Guid id)
        => await Webhooks.GetAsync(id, Aborted) is { } webhook && Caller.CanSee(webhook.DomainId) ? webhook : null;

    public async ValueTask<Domain?> FindDomainAsync(string name)
    {
        try
        {
            return await Domains.GetByNameAsync(name, Aborted);
        }
        catch (InvalidDomainNameException)
        {
            return null;
        }
    }

    public async ValueTask<WebhookView> ViewAsync(Webhook webhook)
    {
        long? backlog = null;
        if (Feed is { } feed)
        {
            var last = await feed.GetLastSequenceAsync(webhook.DomainId, Aborted);
            var cursor = await feed.GetCursorAsync(webhook.Id, Aborted);
            backlog = Math.Max(0, last - (cursor?.Delivered ?? last));
        }
        var domain = (await Domains.GetAsync(webhook.DomainId, Aborted))?.Name ?? webhook.DomainId.ToString("D");
        var status = webhook.Status;
        return new WebhookView(
            webhook.Id, webhook.Name, domain, webhook.Url.AbsoluteUri, webhook.Records, webhook.Events, webhook.Enabled, webhook.Restricted,
            webhook.CreatedAt, webhook.CreatedBy,
            new WebhookStatusView(status.LastSuccessAt, status.LastErrorAt, status.LastError, status.Attempts, status.Delivered, backlog));
    }
}

/// <summary>A new endpoint: <c>records</c> (default true) = the devices' records; <c>events</c> (default false) = lifecycle records and device events.</summary>
public sealed record CreateWebhookRequest(string Name, string Url, string? Domain = null, bool? Records = null, bool? Events = null);

/// <summary>Changes to an endpoint (absent = unchanged); <c>enabled: false</c> pauses it (it keeps its place in the feed).</summary>
public sealed record UpdateWebhookRequest(string? Name = null, string? Url = null, bool? Records = null, bool? Events = null, bool? Enabled = null);

/// <summary>An endpoint as the API shows it (never its secret).</summary>
public sealed record WebhookView(
    Guid Id, string Name, string Domain, string Url, bool Records, bool Events, bool Enabled, bool Restricted,
    DateTimeOffset CreatedAt, Guid? CreatedBy, WebhookStatusView Status);

/// <summary>Delivery status: <c>backlog</c> = items stored for the endpoint and not yet acknowledged by it.</summary>
public sealed record WebhookStatusView(DateTimeOffset? LastSuccessAt, DateTimeOffset? LastErrorAt, string? LastError, int Attempts, long Delivered, long? Backlog);

/// <summary>An endpoint with its signing secret (only in the answer of a creation or rotation).</summary>
public sealed record WebhookCreated(WebhookView Webhook, string Secret);
