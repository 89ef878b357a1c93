using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using M2M.Api.Http;
using M2M.Storage.Lifecycle;
using M2M.Storage.TimeSeries;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace M2M.Api.Apis;

/// <summary><c>/api/devices/{id}/data</c>: the device's time series (series <c>dev-&lt;id&gt;</c>).</summary>
public static class DeviceDataApi
{
    private const string CursorKind = "ts";

    /// <summary>Largest page of records.</summary>
    public const int MaxLimit = TimeSeriesQuery.MaxLimit;

    /// <summary>Longest record type accepted in a query.</summary>
    public const int MaxTypeLength = 256;

    public static RouteGroupBuilder MapDeviceDataApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/devices/{id}/data").WithTags("Data");
        group.MapGet("", QueryAsync).RunsInline().WithName("queryDeviceData").WithSummary("Records of the device, optionally of one type and within [from, to] (ISO 8601), newest first unless order=asc.");
        group.MapGet("/latest", LatestAsync).RunsInline().WithName("getLatestDeviceData").WithSummary("The latest record of each type.");
        group.MapDelete("", DeleteAsync).WithName("deleteDeviceData")
            .WithSummary("Delete the device's records within [from, to] (ISO 8601, both required), optionally of one type; the latest values follow.");
        return group;
    }

    internal static async Task<Results<Ok<Page<DataPoint>>, NotFound, ValidationProblem>> QueryAsync(
        string id, [AsParameters] DeviceServices s, string? type = null, string? from = null, string? to = null, string? order = null, [Range(1, MaxLimit)] int? limit = null, string? cursor = null)
    {
        if (!Validation.TryParseId(id, "id", out var deviceId, out var invalid))
        {
            return invalid;
        }
        if (type is not null && (type.Length is 0 or > MaxTypeLength || type.Any(char.IsControl)))
        {
            return Validation.Problem("type", $"A record type of 1 to {MaxTypeLength} characters without control characters.");
        }
        if (!TryTime(from, "from", out var fromTime, out invalid) || !TryTime(to, "to", out var toTime, out invalid))
        {
            return invalid;
        }
        if (fromTime is not null && toTime is not null && fromTime > toTime)
        {
            return Validation.Problem("to", "Must not be before 'from'.");
        }
        bool descending;
        switch (order)
        {
            case null or "desc":
                descending = true;
                break;
            case "asc":
                descending = false;
                break;
            default:
                return Validation.Problem("order", "Must be 'asc' or 'desc'.");
        }
        if (!Validation.TryLimit(limit, 100, MaxLimit, out var size, out invalid))
        {
            return invalid;
        }
        string? continuation = null;
        if (cursor is not null && !Cursor.TryDecode(CursorKind, cursor, out continuation))
        {
            return Validation.Problem("cursor", "Not a cursor of this list.");
        }
        if (await s.FindAsync(deviceId) is null)
        {
            return TypedResults.NotFound();
        }
        TimeSeriesPage page;
        try
        {
            page = await s.Series.QueryAsync(new TimeSeriesQuery(DeviceServices.SeriesId(deviceId), type, fromTime, toTime, descending, size, continuation), s.Aborted);
        }
        catch (Exception e) when (continuation is not null && e is ArgumentException or FormatException)
        {
            return Validation.Problem("cursor", "Not a cursor of this query.");
        }
        var items = new DataPoint[page.Items.Count];
        for (var i = 0; i < items.Length; i++)
        {
            var r = page.Items[i];
            items[i] = new DataPoint(r.Type, r.Time, r.Data);
        }
        return TypedResults.Ok(new Page<DataPoint>(items, Cursor.Encode(CursorKind, page.Continuation)));
    }

    internal static async Task<Results<NoContent, NotFound, ValidationProblem>> DeleteAsync(string id, [AsParameters] DeviceServices s, string? from = null, string? to = null, string? type = null)
    {
        if (!Validation.TryParseId(id, "id", out var deviceId, out var invalid))
        {
            return invalid;
        }
        if (type is not null && (type.Length is 0 or > MaxTypeLength || type.Any(char.IsControl)))
        {
            return Validation.Problem("type", $"A record type of 1 to {MaxTypeLength} characters without control characters.");
        }
        if (!TryTime(from, "from", out var fromTime, out invalid) || !TryTime(to, "to", out var toTime, out invalid))
        {
            return invalid;
        }
        if (fromTime is not { } start)
        {
            return Validation.Problem("from", "Required: the first instant to delete (ISO 8601).");
        }
        if (toTime is not { } end)
        {
            return Validation.Problem("to", "Required: the last instant to delete (ISO 8601).");
        }
        if (start > end)
        {
            return Validation.Problem("to", "Must not be before 'from'.");
        }
        if (await s.FindAsync(deviceId) is null)
        {
            return TypedResults.NotFound();
        }
        // Month by month: each call holds the storage's write lock for one month of this series only.
        var series = DeviceServices.SeriesId(deviceId);
        foreach (var month in await s.Series.GetMonthsAsync(s.Aborted))
        {
            var monthStart = RetentionPeriods.Start(month);
            var monthEnd = RetentionPeriods.End(month);
            if (monthEnd < start || monthStart > end)
            {
                continue;
            }
            await s.Series.DeleteRangeAsync(series, type, monthStart > start ? monthStart : start, monthEnd < end ? monthEnd : end, CancellationToken.None);
        }
        return TypedResults.NoContent();
    }

    internal static async Task<Results<Ok<Dictionary<string, LatestPoint>>, NotFound, ValidationProblem>> LatestAsync(string id, [AsParameters] DeviceServices s)
    {
        if (!Validation.TryParseId(id, "id", out var deviceId, out var invalid))
        {
            return invalid;
        }
        if (await s.FindAsync(deviceId) is null)
        {
            return TypedResults.NotFound();
        }
        var result = new Dictionary<string, LatestPoint>(StringComparer.Ordinal);
        foreach (var r in await s.Series.GetLatestAsync(DeviceServices.SeriesId(deviceId), s.Aborted))
        {
            result[r.Type] = new LatestPoint(r.Time, r.Data);
        }
        return TypedResults.Ok(result);
    }

    /// <summary>An ISO 8601 time with an offset, or a date-time taken as UTC.</summary>
    private static bool TryTime(string? text, string field, out DateTimeOffset? time, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out ValidationProblem? problem)
    {
        time = null;
        problem = null;
        if (text is null)
        {
            return true;
        }
        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var parsed))
        {
            time = parsed;
            return true;
        }
        problem = Validation.Problem(field, "Not a time: use ISO 8601, e.g. 2026-01-31T12:00:00Z.");
        return false;
    }
}

/// <summary>A record: its type, time and data (the stored JSON document, inlined).</summary>
public sealed record DataPoint(string Type, DateTimeOffset Time, [property: JsonConverter(typeof(RawJsonConverter))] string Data);

/// <summary>The latest record of a type.</summary>
public sealed record LatestPoint(DateTimeOffset Time, [property: JsonConverter(typeof(RawJsonConverter))] string Data);

/// <summary>
/// Writes stored JSON text as JSON (not as a string) without parsing it into objects; text that is
/// not valid JSON is written as a string so that one bad record cannot break a page.
/// </summary>
public sealed class RawJsonConverter : JsonConverter<string>
{
    public override string Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        using var document = JsonDocument.ParseValue(ref reader);
        return document.RootElement.GetRawText();
    }

    public override void Write(Utf8JsonWriter writer, string value, JsonSerializerOptions options)
    {
        if (IsValidJson(value))
        {
            writer.WriteRawValue(value, skipInputValidation: true);
        }
        else
        {
            writer.WriteStringValue(value);
        }
    }

    internal static bool IsValidJson(string value)
    {
        try
        {
            var reader = new Utf8JsonReader(System.Text.Encoding.UTF8.GetBytes(value));
            if (!reader.Read())
            {
                return false;
            }
            reader.Skip();
            return !reader.Read();
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
