using Microsoft.Extensions.DependencyInjection;
using System.ComponentModel.DataAnnotations;
using M2M.Api.Http;
using M2M.Messaging;
using M2M.Storage.Entities;
using M2M.Storage.Lifecycle;
using M2M.Storage.TimeSeries;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace M2M.Api.Apis;

/// <summary><c>/api/devices</c>: list, search, create, change, delete and disconnect devices.</summary>
public static class DevicesApi
{
    private const string CursorKind = "dev";

    public static RouteGroupBuilder MapDevicesApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/devices").WithTags("Devices");
        group.MapGet("", ListAsync).WithName("listDevices").WithSummary("Devices the caller may see, optionally searched by ident or name and filtered by domain.");
        group.MapPost("", CreateAsync).WithName("createDevice").WithSummary("Create a device.");
        group.MapGet("/{id}", GetAsync).RunsInline().WithName("getDevice").WithSummary("One device.");
        group.MapGet("/by-ident/{ident}", GetByIdentAsync).RunsInline().WithName("getDeviceByIdent").WithSummary("One device by its ident.");
        group.MapPatch("/{id}", UpdateAsync).WithName("updateDevice").WithSummary("Change a device's display name or domain.");
        group.MapDelete("/{id}", DeleteAsync).WithName("deleteDevice")
            .WithSummary("Delete a device for real (registry, ident, domain membership); with purgeData=true its records too, in the background (202 and the deletion's status).");
        group.MapGet("/deletions/{id}", GetDeletionAsync).WithName("getDeviceDeletion").WithSummary("The status of a device's deletion.");
        group.MapPost("/{id}/disconnect", DisconnectAsync).WithName("disconnectDevice").WithSummary("Close the device's connection wherever it is connected.");
        group.MapGet("/{id}/status", GetStatusAsync).WithName("getDeviceStatus").WithSummary("Values reported by the device.");
        group.MapGet("/{id}/sensors", GetSensorsAsync).WithName("getDeviceSensors").WithSummary("Sensors the device listed, with when each was first and last seen.");
        return group;
    }

    internal static async Task<Results<Ok<Page<DeviceView>>, ValidationProblem>> ListAsync(
        [AsParameters] DeviceServices s, string? q = null, string? domain = null, [Range(1, DeviceQuery.MaxLimit)] int? limit = null, string? cursor = null)
    {
        if (!Validation.TryLimit(limit, 100, DeviceQuery.MaxLimit, out var size, out var invalid))
        {
            return invalid;
        }
        if (q is { Length: > DeviceIds.MaxIdentLength })
        {
            return Validation.Problem("q", $"Longer than {DeviceIds.MaxIdentLength} characters.");
        }
        string? position = null;
        if (cursor is not null && !Cursor.TryDecode(CursorKind, cursor, out position))
        {
            return Validation.Problem("cursor", "Not a cursor of this list.");
        }
        Guid? domainId = s.Caller.IsAdmin ? null : s.Caller.DomainId;
        if (!string.IsNullOrEmpty(domain))
        {
            var found = await s.Domains.GetByNameAsync(domain, s.Aborted);
            if (found is null || !s.Caller.CanSee(found.Id))
            {
                return Validation.Problem("domain", "Unknown domain.");
            }
            domainId = found.Id;
        }
        DevicePage page;
        try
        {
            page = await s.Devices.ListAsync(new DeviceQuery(string.IsNullOrEmpty(q) ? null : q, domainId, size, position), s.Aborted);
        }
        catch (ArgumentException) when (position is not null)
        {
            return Validation.Problem("cursor", "Not a cursor of this list.");
        }
        var views = new DeviceViews(s);
        var items = new List<DeviceView>(page.Items.Count);
        foreach (var device in page.Items)
        {
            items.Add(await views.ViewAsync(device));
        }
        return TypedResults.Ok(new Page<DeviceView>(items, Cursor.Encode(CursorKind, page.NextCursor)));
    }

    /// <summary>
    /// Creates a device with its credentials in the same write: the caller's <c>secret</c> and/or
    /// <c>certificateThumbprints</c>, else a generated secret returned once in the answer. Only an
    /// administrator may create a device without credentials (<c>unauthenticated: true</c>): a
    /// credential-less device is taken by whichever connection first presents its ident, so a
    /// domain user could otherwise pre-register a future device's ident and receive its data.
    /// </summary>
    internal static async Task<Results<Created<CreatedDeviceView>, ValidationProblem, ProblemHttpResult>> CreateAsync(
        CreateDeviceRequest request, [AsParameters] DeviceServices s)
    {
        try
        {
            DeviceIds.ValidateIdent(request.Ident);
        }
        catch (InvalidIdentException e)
        {
            return Validation.Problem("ident", e.Message);
        }
        if (request.DisplayName is { Length: > DeviceView.MaxDisplayName })
        {
            return Validation.Problem("displayName", $"Longer than {DeviceView.MaxDisplayName} characters.");
        }
        if (CheckCredentials(request, s.Caller, out var forbidden) is { } invalidCredentials)
        {
            return invalidCredentials;
        }
        if (forbidden is not null)
        {
            return forbidden;
        }
        var domainId = s.Caller.DomainId;
        if (!string.IsNullOrEmpty(request.Domain))
        {
            var found = await s.Domains.GetByNameAsync(request.Domain, s.Aborted);
            if (found is null || !s.Caller.CanSee(found.Id))
            {
                return Validation.Problem("domain", "Unknown domain.");
            }
            domainId = found.Id;
        }
        else if (s.Caller.IsAdmin)
        {
            domainId = (await s.Domains.EnsureDefaultAsync(s.Aborted)).Id;
        }
        var thumbprints = (request.CertificateThumbprints ?? []).Select(t => DeviceCertificates.NormalizeThumbprint(t)!).Distinct().ToList();
        var generated = request.Unauthenticated || request.Secret is not null || thumbprints.Count > 0 ? null : DeviceSecrets.Generate();
        var secret = request.Secret ?? generated;
        var seed = request.Unauthenticated ? null : new DeviceCredentialSeed(secret is null ? null : DeviceSecrets.Hash(secret), thumbprints);
        Device device;
        try
        {
            device = await s.Devices.CreateAsync(request.Ident, string.IsNullOrEmpty(request.DisplayName) ? null : request.DisplayName, domainId, seed, s.Aborted);
        }
        catch (DuplicateNameException)
        {
            return TypedResults.Problem(title: "A device with this ident already exists.", statusCode: StatusCodes.Status409Conflict);
        }
        s.Fleet.Upsert(device);
        var view = await new DeviceViews(s).ViewAsync(device);
        return TypedResults.Created($"/api/devices/{device.Id:D}", new CreatedDeviceView(view.Id, view.Ident, view.DisplayName, view.Domain, view.Connected, view.LastSeen, view.Protocol, generated));
    }

    /// <summary>Checks the credential fields of a creation: a 400 to answer, or <paramref name="forbidden"/> (403), or neither.</summary>
    private static ValidationProblem? CheckCredentials(CreateDeviceRequest request, Auth.Caller caller, out ProblemHttpResult? forbidden)
    {
        forbidden = null;
        var thumbprints = request.CertificateThumbprints ?? [];
        if (request.Unauthenticated)
        {
            if (request.Secret is not null || thumbprints.Count > 0)
            {
                return Validation.Problem("unauthenticated", "A device is either unauthenticated or has credentials, not both.");
            }
            if (!caller.IsAdmin)
            {
                forbidden = TypedResults.Problem(statusCode: StatusCodes.Status403Forbidden,
                    title: "Only an administrator may create a device without credentials.");
                return null;
            }
        }
        if (request.Secret is not null && DeviceSecrets.CheckStrength(request.Secret) is { } weak)
        {
            return Validation.Problem("secret", weak);
        }
        if (thumbprints.Count > DeviceCertificates.MaxPerDevice)
        {
            return Validation.Problem("certificateThumbprints", $"At most {DeviceCertificates.MaxPerDevice} certificates.");
        }
        if (thumbprints.Any(t => DeviceCertificates.NormalizeThumbprint(t) is null))
        {
            return Validation.Problem("certificateThumbprints", "A thumbprint is the SHA-256 of the certificate: 64 hex digits.");
        }
        return null;
    }

    internal static async Task<Results<Ok<DeviceView>, NotFound, ValidationProblem>> GetAsync(string id, [AsParameters] DeviceServices s)
    {
        if (!Validation.TryParseId(id, "id", out var deviceId, out var invalid))
        {
            return invalid;
        }
        var device = await s.FindAsync(deviceId);
        return device is null ? TypedResults.NotFound() : TypedResults.Ok(await new DeviceViews(s).ViewAsync(device));
    }

    internal static async Task<Results<Ok<DeviceView>, NotFound, ValidationProblem>> GetByIdentAsync(string ident, [AsParameters] DeviceServices s)
    {
        try
        {
            DeviceIds.ValidateIdent(ident);
        }
        catch (InvalidIdentException e)
        {
            return Validation.Problem("ident", e.Message);
        }
        var device = await s.Devices.GetByIdentAsync(ident, s.Aborted);
        return device is null || !s.Caller.CanSee(device.DomainId) ? TypedResults.NotFound() : TypedResults.Ok(await new DeviceViews(s).ViewAsync(device));
    }

    internal static async Task<Results<Ok<DeviceView>, NotFound, ValidationProblem>> UpdateAsync(string id, UpdateDeviceRequest request, [AsParameters] DeviceServices s)
    {
        if (!Validation.TryParseId(id, "id", out var deviceId, out var invalid))
        {
            return invalid;
        }
        if (request.DisplayName is { Length: > DeviceView.MaxDisplayName })
        {
            return Validation.Problem("displayName", $"Longer than {DeviceView.MaxDisplayName} characters.");
        }
        var device = await s.FindAsync(deviceId);
        if (device is null)
        {
            return TypedResults.NotFound();
        }
        Domain? target = null;
        if (request.Domain is not null)
        {
            target = await s.Domains.GetByNameAsync(request.Domain, s.Aborted);
            if (target is null || !s.Caller.CanSee(target.Id))
            {
                return Validation.Problem("domain", "Unknown domain.");
            }
        }
        if (request.DisplayName is not null)
        {
            device = await s.Devices.SetDisplayNameAsync(deviceId, request.DisplayName.Length == 0 ? null : request.DisplayName, s.Aborted);
        }
        if (target is not null && target.Id != device.DomainId)
        {
            device = await s.Devices.SetDomainAsync(deviceId, target.Id, s.Aborted);
            // Forwarding routes its next records to the new domain's endpoints (other nodes: within their cache lifetime).
            s.Http.RequestServices.GetService<Forwarding.DeviceDirectory>()?.Forget(deviceId);
        }
        s.Fleet.Upsert(device);
        return TypedResults.Ok(await new DeviceViews(s).ViewAsync(device));
    }

    internal static async Task<Results<NoContent, Accepted<DeviceDeletionView>, NotFound, ValidationProblem>> DeleteAsync(
        string id, [AsParameters] DeviceServices s, DeviceDeletions deletions, bool? purgeData = null)
    {
        if (!Validation.TryParseId(id, "id", out var deviceId, out var invalid))
        {
            return invalid;
        }
        var purge = purgeData ?? false;
        if (await s.FindAsync(deviceId) is null)
        {
            // A device deleted earlier with its records kept: purgeData=true deletes them now.
            if (purge && await deletions.GetAsync(deviceId, s.Aborted) is { } earlier && s.Caller.CanSee(earlier.DomainId)
                && await deletions.DeleteAsync(deviceId, purgeData: true, CancellationToken.None) is { } again)
            {
                return TypedResults.Accepted(DeletionLocation(deviceId), await DeviceDeletionView.FromAsync(again, s));
            }
            return TypedResults.NotFound();
        }
        // Not tied to the request: a client that goes away must not leave the deletion half done.
        var deletion = await deletions.DeleteAsync(deviceId, purge, CancellationToken.None);
        if (deletion is null)
        {
            return TypedResults.NotFound();
        }
        s.Fleet.Remove(deviceId);
        // A deleted device must not stay connected as if nothing happened.
        await s.PushAsync(deviceId, Calls.Disconnect);
        return purge ? TypedResults.Accepted(DeletionLocation(deviceId), await DeviceDeletionView.FromAsync(deletion, s)) : TypedResults.NoContent();
    }

    private static string DeletionLocation(Guid deviceId) => $"/api/devices/deletions/{deviceId:D}";

    internal static async Task<Results<Ok<DeviceDeletionView>, NotFound, ValidationProblem>> GetDeletionAsync(string id, [AsParameters] DeviceServices s, DeviceDeletions deletions)
    {
        if (!Validation.TryParseId(id, "id", out var deviceId, out var invalid))
        {
            return invalid;
        }
        var deletion = await deletions.GetAsync(deviceId, s.Aborted);
        return deletion is null || !s.Caller.CanSee(deletion.DomainId) ? TypedResults.NotFound() : TypedResults.Ok(await DeviceDeletionView.FromAsync(deletion, s));
    }

    internal static async Task<Results<Accepted, NotFound, ValidationProblem>> DisconnectAsync(string id, [AsParameters] DeviceServices s)
    {
        if (!Validation.TryParseId(id, "id", out var deviceId, out var invalid))
        {
            return invalid;
        }
        if (await s.FindAsync(deviceId) is null)
        {
            return TypedResults.NotFound();
        }
        await s.PushAsync(deviceId, Calls.Disconnect);
        return TypedResults.Accepted((string?)null);
    }

    internal static async Task<Results<Ok<IReadOnlyDictionary<string, string>>, NotFound, ValidationProblem>> GetStatusAsync(string id, [AsParameters] DeviceServices s)
    {
        if (!Validation.TryParseId(id, "id", out var deviceId, out var invalid))
        {
            return invalid;
        }
        if (await s.FindAsync(deviceId) is null)
        {
            return TypedResults.NotFound();
        }
        return TypedResults.Ok(await s.Devices.GetStatusAsync(deviceId, s.Aborted));
    }

    internal static async Task<Results<Ok<IReadOnlyList<ListedSensor>>, NotFound, ValidationProblem>> GetSensorsAsync(string id, [AsParameters] DeviceServices s)
    {
        if (!Validation.TryParseId(id, "id", out var deviceId, out var invalid))
        {
            return invalid;
        }
        if (await s.FindAsync(deviceId) is null)
        {
            return TypedResults.NotFound();
        }
        return TypedResults.Ok(await s.Devices.GetListedSensorsAsync(deviceId, s.Aborted));
    }
}

/// <summary>A device as the API shows it.</summary>
/// <param name="Id">Device id.</param>
/// <param name="Ident">Unique ident.</param>
/// <param name="DisplayName">Display name, if any.</param>
/// <param name="Domain">Name of its domain.</param>
/// <param name="Connected">Whether it holds a connection to any ingest node now.</param>
/// <param name="LastSeen">Its last activity when connected, else the time of its newest record.</param>
/// <param name="Protocol">The protocol of its last identification (<c>m2mp</c>, <c>alip</c>), <c>null</c> before the first.</param>
public sealed record DeviceView(Guid Id, string Ident, string? DisplayName, string Domain, bool Connected, DateTimeOffset? LastSeen, string? Protocol)
{
    public const int MaxDisplayName = 200;
}

/// <summary>A device deletion as the API shows it.</summary>
/// <param name="Id">The deleted device's id.</param>
/// <param name="Ident">Its ident.</param>
/// <param name="Domain">The name of the domain it belonged to.</param>
/// <param name="PurgeData">Whether its records are deleted too.</param>
/// <param name="State"><c>registry</c> (being deleted), <c>data</c> (records being deleted in the background) or <c>done</c>.</param>
/// <param name="RequestedAt">When the deletion was asked for.</param>
/// <param name="CompletedAt">When it finished.</param>
/// <param name="RecordsDeleted">Records deleted so far.</param>
/// <param name="Error">The last error of the background work, if any (it is retried).</param>
public sealed record DeviceDeletionView(Guid Id, string Ident, string Domain, bool PurgeData, DeviceDeletionState State, DateTimeOffset RequestedAt,
    DateTimeOffset? CompletedAt, long RecordsDeleted, string? Error)
{
    internal static async ValueTask<DeviceDeletionView> FromAsync(DeviceDeletion d, DeviceServices s)
    {
        var domain = (await s.Domains.GetAsync(d.DomainId, s.Aborted))?.Name ?? d.DomainId.ToString("D");
        return new DeviceDeletionView(d.Id, d.Ident, domain, d.PurgeData, d.State, d.RequestedAt, d.CompletedAt, d.RecordsDeleted, d.Error);
    }
}

/// <summary>
/// A new device; <c>domain</c> by name (the caller's own domain, or <c>default</c> for an admin, when
/// absent). Credentials: <c>secret</c> (caller's own, strength checked) and/or
/// <c>certificateThumbprints</c> (SHA-256, hex); with neither a secret is generated and returned once;
/// <c>unauthenticated</c> (admins only) creates it without credentials.
/// </summary>
public sealed record CreateDeviceRequest(
    string Ident,
    string? DisplayName = null,
    string? Domain = null,
    string? Secret = null,
    IReadOnlyList<string>? CertificateThumbprints = null,
    bool Unauthenticated = false);

/// <summary>A created device; <c>secret</c> is the generated secret (shown in this answer only), else <c>null</c>.</summary>
public sealed record CreatedDeviceView(Guid Id, string Ident, string? DisplayName, string Domain, bool Connected, DateTimeOffset? LastSeen, string? Protocol, string? Secret);

/// <summary>Changes of a device: an absent field is left as is; an empty <c>displayName</c> clears it.</summary>
public sealed record UpdateDeviceRequest(string? DisplayName = null, string? Domain = null);

/// <summary>Builds <see cref="DeviceView"/>s, looking each domain name up once per request.</summary>
internal sealed class DeviceViews(DeviceServices s)
{
    private readonly Dictionary<Guid, string> _domainNames = [];

    public async ValueTask<DeviceView> ViewAsync(Device device, IReadOnlyList<TimeSeriesRecord>? latest = null)
    {
        if (!_domainNames.TryGetValue(device.DomainId, out var domainName))
        {
            domainName = (await s.Domains.GetAsync(device.DomainId, s.Aborted))?.Name ?? device.DomainId.ToString("D");
            _domainNames[device.DomainId] = domainName;
        }
        var presence = await s.Presence.GetAsync(device.Id, s.Aborted);
        var lastSeen = presence?.LastSeen;
        if (lastSeen is null)
        {
            foreach (var record in latest ?? await s.Series.GetLatestAsync(DeviceServices.SeriesId(device.Id), s.Aborted))
            {
                if (lastSeen is null || record.Time > lastSeen)
                {
                    lastSeen = record.Time;
                }
            }
        }
        return new DeviceView(device.Id, device.Ident, device.DisplayName, domainName, presence is not null, lastSeen, device.Protocol);
    }
}
