using M2M.Api.Http;
using M2M.Storage.Entities;
using M2M.Storage.Files;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace M2M.Api.Apis;

/// <summary>
/// <c>/api/firmware/{name}/domains</c> (administrators): which domains' devices may read a firmware
/// (ALIP <c>F N</c>) and which domains' users see it in <c>/api/firmware</c>. A firmware that was
/// never given a list is readable by no domain.
/// </summary>
public static class FirmwareAccessApi
{
    public static IEndpointRouteBuilder MapFirmwareAccessApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/firmware/{name}/domains").WithTags("Firmware").RequireAuthorization(ApiExtensions.AdminPolicy);
        group.MapGet("", GetAsync).WithSummary("The domains whose devices may read this firmware.");
        group.MapPut("", SetAsync).WithSummary("Replace the domains whose devices may read this firmware ({ allDomains } or { domains: [names] }).");
        return routes;
    }

    internal static async Task<Results<Ok<FirmwareAccessView>, NotFound>> GetAsync(string name, IFirmwareStore firmware, IDomainStore domains, CancellationToken cancellationToken)
    {
        if (!IsName(name) || await firmware.GetAccessAsync(name, cancellationToken) is not { } access)
        {
            return TypedResults.NotFound();
        }
        return TypedResults.Ok(await ViewAsync(access, domains, cancellationToken));
    }

    internal static async Task<Results<Ok<FirmwareAccessView>, NotFound, ValidationProblem>> SetAsync(
        string name, FirmwareAccessRequest request, IFirmwareStore firmware, IDomainStore domains, CancellationToken cancellationToken)
    {
        var names = request.Domains ?? [];
        if (request.AllDomains && names.Count > 0)
        {
            return Validation.Problem("domains", "Either allDomains or a list of domains, not both.");
        }
        if (names.Count > 1000)
        {
            return Validation.Problem("domains", "At most 1000 domains.");
        }
        var ids = new List<Guid>(names.Count);
        foreach (var domainName in names)
        {
            Domain? domain = null;
            try
            {
                domain = await domains.GetByNameAsync(domainName, cancellationToken);
            }
            catch (InvalidDomainNameException)
            {
            }
            if (domain is null)
            {
                return Validation.Problem("domains", $"Unknown domain '{domainName}'.");
            }
            ids.Add(domain.Id);
        }
        if (!IsName(name) || !await firmware.SetAccessAsync(name, new FirmwareAccess(request.AllDomains, ids), CancellationToken.None))
        {
            return TypedResults.NotFound();
        }
        return TypedResults.Ok(await ViewAsync((await firmware.GetAccessAsync(name, cancellationToken))!, domains, cancellationToken));
    }

    private static bool IsName(string name) => Validation.CheckDeviceText(name, IFirmwareStore.MaxNameLength, allowSpaces: true) is null;

    private static async Task<FirmwareAccessView> ViewAsync(FirmwareAccess access, IDomainStore domains, CancellationToken cancellationToken)
    {
        var names = new List<string>();
        foreach (var id in access.DomainIds)
        {
            // A deleted domain's entry stays harmless (nobody is in it) and is not shown.
            if (await domains.GetAsync(id, cancellationToken) is { } domain)
            {
                names.Add(domain.Name);
            }
        }
        names.Sort(StringComparer.Ordinal);
        return new FirmwareAccessView(access.AllDomains, names);
    }
}

/// <summary>Who may read a firmware: every domain, or the named ones.</summary>
public sealed record FirmwareAccessView(bool AllDomains, IReadOnlyList<string> Domains);

/// <summary>New access of a firmware: <c>allDomains</c>, or <c>domains</c> by name (an empty list: nobody).</summary>
public sealed record FirmwareAccessRequest(bool AllDomains = false, IReadOnlyList<string>? Domains = null);
