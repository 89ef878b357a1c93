using System.ComponentModel.DataAnnotations;
using System.Text.Json;
using System.Text.Json.Serialization;
using M2M.Api.Fleet;
using M2M.Api.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace M2M.Api.Apis;

/// <summary>
/// <c>/api/fleet</c>: the devices the caller may see, each with its presence, last position and
/// latest values, searched and sorted on the server over the in-memory <see cref="FleetIndex"/>
/// (one call per page, whatever the fleet's size).
/// </summary>
public static class FleetApi
{
    private const string CursorKind = "fleet";

    /// <summary>Largest page.</summary>
    public const int MaxLimit = 500;

    /// <summary>Record type of positions.</summary>
    public const string LocationType = "sen:loc";

    /// <summary>Most positions one map request returns.</summary>
    public const int MaxPositions = 20_000;

    public static IEndpointRouteBuilder MapFleetApi(this IEndpointRouteBuilder routes)
    {
        routes.MapGet("/fleet", ListAsync).WithName("listFleet").WithTags("Devices")
            .WithSummary("Devices with presence, last position and latest values; search by ident or name, sort by ident, name, lastSeen or online.");
        routes.MapGet("/fleet/positions", PositionsAsync).WithName("listFleetPositions").WithTags("Devices")
            .WithSummary("The last position of every device (newest first, up to limit) for the fleet map; search by ident or name.");
        return routes;
    }

    internal static async Task<Results<Ok<FleetPositions>, ValidationProblem>> PositionsAsync(
        [AsParameters] DeviceServices s, string? q = null, string? domain = null, [Range(1, MaxPositions)] int? limit = null)
    {
        if (!Validation.TryLimit(limit, 5000, MaxPositions, out var size, out var invalid))
        {
            return invalid;
        }
        if (q is { Length: > 200 })
        {
            return Validation.Problem("q", "Longer than 200 characters.");
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
        await s.Fleet.Loaded.WaitAsync(s.Aborted);
        await s.WaitOnlineAsync();
        var (entries, total) = s.Fleet.Positions(domainId, q, size);
        var items = new List<FleetMarker>(entries.Count);
        foreach (var e in entries)
        {
            if (!s.Caller.IsAdmin)
            {
                // Another process may have moved the device since the index learned it: ask the store.
                var device = await s.Devices.GetAsync(e.Id, s.Aborted);
                s.Fleet.Verify(e.Id, device);
                if (device is null || device.DomainId != s.Caller.DomainId)
                {
                    continue;
                }
            }
            var p = Volatile.Read(ref e.Position)!;
            items.Add(new FleetMarker(e.Id, e.Ident, e.DisplayName, s.Online.IsConnected(e.Id), p.Time, p.Lat, p.Lon));
        }
        return TypedResults.Ok(new FleetPositions(items, total));
    }

    internal static async Task<Results<Ok<FleetPage>, ValidationProblem>> ListAsync(
        [AsParameters] DeviceServices s,
        string? q = null, string? domain = null, string? sort = null, string? order = null, [Range(1, MaxLimit)] int? limit = null, string? cursor = null)
    {
        if (!Validation.TryLimit(limit, 100, MaxLimit, out var size, out var invalid))
        {
            return invalid;
        }
        if (q is { Length: > 200 })
        {
            return Validation.Problem("q", "Longer than 200 characters.");
        }
        FleetSort by;
        switch (sort)
        {
            case null or "ident": by = FleetSort.Ident; break;
            case "name": by = FleetSort.Name; break;
            case "lastSeen": by = FleetSort.LastSeen; break;
            case "online": by = FleetSort.Online; break;
            default: return Validation.Problem("sort", "Must be 'ident', 'name', 'lastSeen' or 'online'.");
        }
        if (order is not (null or "asc" or "desc"))
        {
            return Validation.Problem("order", "Must be 'asc' or 'desc'.");
        }
        FleetPosition? after = null;
        if (cursor is not null && !(Cursor.TryDecode(CursorKind + by, cursor, out var position) && FleetPosition.TryDecode(position, out after)))
        {
            return Validation.Problem("cursor", "Not a cursor of this list (or of another sort).");
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

        await s.Fleet.Loaded.WaitAsync(s.Aborted);
        await s.WaitOnlineAsync();
        var page = s.Fleet.Query(new FleetQuery(domainId, q, by, order == "desc", size, after), s.Online);

        var views = new DeviceViews(s);
        var items = new List<FleetDevice>(page.Items.Count);
        foreach (var entry in page.Items)
        {
            // The store is the truth: a device moved or deleted since the index learned it is fixed
            // there and left out here, so a stale index never shows a device of another domain.
            var device = await s.Devices.GetAsync(entry.Id, s.Aborted);
            s.Fleet.Verify(entry.Id, device);
            if (device is null || !s.Caller.CanSee(device.DomainId) || (domainId is { } d && device.DomainId != d))
            {
                continue;
            }
            var latest = await s.Series.GetLatestAsync(DeviceServices.SeriesId(device.Id), s.Aborted);
            var view = await views.ViewAsync(device, latest);
            var values = new Dictionary<string, LatestPoint>(latest.Count, StringComparer.Ordinal);
            FleetLocation? location = null;
            foreach (var record in latest)
            {
                values[record.Type] = new LatestPoint(record.Time, record.Data);
                if (record.Type == LocationType)
                {
                    location = FleetLocation.TryParse(record.Time, record.Data);
                }
            }
            items.Add(new FleetDevice(view.Id, view.Ident, view.DisplayName, view.Domain, view.Connected, view.LastSeen, location, values));
        }
        return TypedResults.Ok(new FleetPage(items, Cursor.Encode(CursorKind + by, page.Next?.Encode()), page.Total));
    }
}

/// <summary>Positions for the fleet map; <c>total</c> counts every matching device that has one.</summary>
public sealed record FleetPositions(IReadOnlyList<FleetMarker> Items, int Total);

/// <summary>A device on the fleet map.</summary>
public sealed record FleetMarker(Guid Id, string Ident, string? DisplayName, bool Connected, DateTimeOffset Time, double Lat, double Lon);

/// <summary>A page of the fleet: <c>total</c> counts every device matching the search.</summary>
public sealed record FleetPage(IReadOnlyList<FleetDevice> Items, string? Next, int Total);

/// <summary>A device of the fleet listing.</summary>
/// <param name="Id">Device id.</param>
/// <param name="Ident">Unique ident.</param>
/// <param name="DisplayName">Display name, if any.</param>
/// <param name="Domain">Name of its domain.</param>
/// <param name="Connected">Whether it holds a connection now.</param>
/// <param name="LastSeen">Its last activity when connected, else the time of its newest record.</param>
/// <param name="Position">Its newest <c>sen:loc</c> record, when that one has a position.</param>
/// <param name="Values">The latest record of each type.</param>
public sealed record FleetDevice(Guid Id, string Ident, string? DisplayName, string Domain, bool Connected, DateTimeOffset? LastSeen, FleetLocation? Position, IReadOnlyDictionary<string, LatestPoint> Values);

/// <summary>A position: when, where, and speed/altitude when the device gave them.</summary>
public sealed record FleetLocation(DateTimeOffset Time, double Lat, double Lon, double? Spd, double? Alt)
{
    // sen:loc data is small: transcoded on the stack up to this many UTF-8 bytes, in a pooled array above.
    private const int StackBytes = 512;

    /// <summary>
    /// The position in a <c>sen:loc</c> record's data, or <c>null</c> (a satellite count, not a location, or
    /// not JSON): a JSON object whose <c>lat</c> and <c>lon</c> are numbers; <c>spd</c> and <c>alt</c> when they
    /// are numbers. As with a parsed document, the last of repeated properties counts and the whole text must
    /// be one valid JSON document. A number beyond the range of a double counts as not a number (a parsed
    /// document reads it as infinity, which the API cannot write as JSON).
    /// </summary>
    /// <remarks>
    /// The fleet index reads every committed <c>sen:loc</c> record with this, so it reads the text with a
    /// <see cref="Utf8JsonReader"/> instead of building a <see cref="JsonDocument"/>: no allocation but the result.
    /// </remarks>
    public static FleetLocation? TryParse(DateTimeOffset time, string data)
    {
        ArgumentNullException.ThrowIfNull(data);
        var most = System.Text.Encoding.UTF8.GetMaxByteCount(data.Length);
        byte[]? rented = null;
        var buffer = most <= StackBytes ? stackalloc byte[StackBytes] : (rented = System.Buffers.ArrayPool<byte>.Shared.Rent(most));
        try
        {
            var length = System.Text.Encoding.UTF8.GetBytes(data, buffer);
            return TryRead(time, buffer[..length]);
        }
        finally
        {
            if (rented is not null)
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    private static FleetLocation? TryRead(DateTimeOffset time, ReadOnlySpan<byte> utf8)
    {
        try
        {
            var reader = new Utf8JsonReader(utf8);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return null;
            }
            double? lat = null, lon = null, spd = null, alt = null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var field = reader.ValueTextEquals("lat"u8) ? 1 : reader.ValueTextEquals("lon"u8) ? 2 : reader.ValueTextEquals("spd"u8) ? 3 : reader.ValueTextEquals("alt"u8) ? 4 : 0;
                reader.Read();
                double? number = reader.TokenType == JsonTokenType.Number && reader.TryGetDouble(out var value) && double.IsFinite(value) ? value : null;
                // Nested values are read through (and so checked) like the rest.
                reader.Skip();
                switch (field)
                {
                    case 1: lat = number; break;
                    case 2: lon = number; break;
                    case 3: spd = number; break;
                    case 4: alt = number; break;
                }
            }
            // The object's end, then nothing but whitespace: a trailing token or a truncated text throws.
            if (reader.TokenType != JsonTokenType.EndObject || reader.Read())
            {
                return null;
            }
            return lat is { } la && lon is { } lo ? new FleetLocation(time, la, lo, spd, alt) : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
