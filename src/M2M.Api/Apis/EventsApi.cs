using System.Buffers;
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Security.Claims;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using M2M.Api.Auth;
using M2M.Api.Http;
using M2M.Api.Live;
using M2M.Messaging;
using M2M.Storage.Entities;
using M2M.Storage.TimeSeries;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;

namespace M2M.Api.Apis;

/// <summary>
/// <c>/api/events</c> and <c>/api/devices/{id}/events</c>: live device events and, on request, the
/// records themselves as they are committed, as Server-Sent Events, filtered to the devices the
/// caller may see.
/// </summary>
/// <remarks>
/// Each event's name is the bus call (<c>device_connected</c>, <c>device_identified</c>,
/// <c>device_disconnected</c>, …) and its data the message's fields plus <c>time</c> (unix
/// seconds); a stored record is an event <c>record</c> with <c>device_id</c>, <c>type</c>,
/// <c>time</c> (ISO 8601) and <c>data</c> (the record's JSON). A <c>ping</c> event every
/// <see cref="KeepAlive"/> keeps idle connections open through proxies. A client that falls more
/// than <see cref="ApiOptions.EventBufferPerClient"/> items behind is disconnected (it reconnects
/// and resumes live) rather than growing the server's memory.
/// </remarks>
public static class EventsApi
{
    /// <summary>Interval of the keep-alive <c>ping</c> events.</summary>
    public static readonly TimeSpan KeepAlive = TimeSpan.FromSeconds(20);

    /// <summary>Most devices one stream may name (100 ids fit the request line Kestrel accepts, 8 KiB, with room to spare).</summary>
    public const int MaxDevices = 100;

    /// <summary>Most record types one stream may name.</summary>
    public const int MaxTypes = 100;

    /// <summary>Name of the SSE event carrying a stored record.</summary>
    public const string RecordEvent = "record";

    public static IEndpointRouteBuilder MapEventsApi(this IEndpointRouteBuilder routes)
    {
        routes.MapGet("/events", StreamAsync).WithName("streamEvents").WithTags("Events")
            .WithSummary("Live device events and (records=true) stored records, as Server-Sent Events, of the devices the caller may see; narrow with device= (records, and events unless events=all) and type= (records).");
        routes.MapGet("/devices/{id}/events", StreamDeviceAsync).WithName("streamDeviceEvents").WithTags("Events")
            .WithSummary("Live events and (records=true) stored records of one device, as Server-Sent Events.");
        return routes;
    }

    /// <summary>What a stream carries.</summary>
    /// <param name="Events">Lifecycle events at all.</param>
    /// <param name="EventsOfAll">Events of every device the caller may see, not only of <paramref name="Devices"/>.</param>
    /// <param name="Records">Stored records.</param>
    /// <param name="Devices">Only these devices (records, and events unless <paramref name="EventsOfAll"/>).</param>
    /// <param name="Types">Only records of these types.</param>
    private sealed record StreamFilter(bool Events, bool EventsOfAll, bool Records, HashSet<Guid>? Devices, HashSet<string>? Types);

    internal static Results<ServerSentEventsResult<string>, ValidationProblem> StreamAsync(
        ClaimsPrincipal user, IMessageBus bus, LiveRecordHub records, IDeviceStore devices, IOptions<ApiOptions> options, HttpContext http,
        string? events = null, [FromQuery(Name = "records")] bool? withRecords = null, [FromQuery(Name = "device")] string[]? device = null, [FromQuery(Name = "type")] string[]? type = null)
    {
        if (!TryFilter(events, withRecords, device, type, out var filter, out var invalid))
        {
            return invalid;
        }
        return TypedResults.ServerSentEvents(ReadAsync(Caller.From(user), filter, bus, records, devices, options.Value.EventBufferPerClient, http.RequestAborted));
    }

    internal static async Task<Results<ServerSentEventsResult<string>, NotFound, ValidationProblem>> StreamDeviceAsync(
        string id, ClaimsPrincipal user, IMessageBus bus, LiveRecordHub records, IDeviceStore devices, IOptions<ApiOptions> options, HttpContext http,
        string? events = null, [FromQuery(Name = "records")] bool? withRecords = null, [FromQuery(Name = "type")] string[]? type = null)
    {
        if (!Validation.TryParseId(id, "id", out var deviceId, out var invalid))
        {
            return invalid;
        }
        if (events == "all")
        {
            return Validation.Problem("events", "Must be 'devices' or 'none' on a device's stream.");
        }
        if (!TryFilter(events, withRecords, [id], type, out var filter, out invalid))
        {
            return invalid;
        }
        var caller = Caller.From(user);
        var found = await devices.GetAsync(deviceId, http.RequestAborted);
        if (found is null || !caller.CanSee(found.DomainId))
        {
            return TypedResults.NotFound();
        }
        return TypedResults.ServerSentEvents(ReadAsync(caller, filter, bus, records, devices, options.Value.EventBufferPerClient, http.RequestAborted));
    }

    private static bool TryFilter(string? events, bool? records, string[]? device, string[]? type, out StreamFilter filter, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out ValidationProblem? problem)
    {
        filter = null!;
        problem = null;
        HashSet<Guid>? devices = null;
        if (device is { Length: > 0 })
        {
            if (device.Length > MaxDevices)
            {
                problem = Validation.Problem("device", $"At most {MaxDevices} devices.");
                return false;
            }
            devices = [];
            foreach (var text in device)
            {
                if (!Guid.TryParse(text, out var id))
                {
                    problem = Validation.Problem("device", "Not a valid id (a UUID such as 5f0c8a4e-…).");
                    return false;
                }
                devices.Add(id);
            }
        }
        HashSet<string>? types = null;
        if (type is { Length: > 0 })
        {
            if (type.Length > MaxTypes)
            {
                problem = Validation.Problem("type", $"At most {MaxTypes} types.");
                return false;
            }
            foreach (var t in type)
            {
                if (t.Length is 0 or > DeviceDataApi.MaxTypeLength || t.Any(char.IsControl))
                {
                    problem = Validation.Problem("type", $"A record type of 1 to {DeviceDataApi.MaxTypeLength} characters without control characters.");
                    return false;
                }
            }
            types = new HashSet<string>(type, StringComparer.Ordinal);
        }
        bool withEvents, ofAll;
        switch (events)
        {
            case null:
                (withEvents, ofAll) = (true, devices is null);
                break;
            case "all":
                (withEvents, ofAll) = (true, true);
                break;
            case "devices":
                (withEvents, ofAll) = (true, devices is null);
                break;
            case "none":
                (withEvents, ofAll) = (false, false);
                break;
            default:
                problem = Validation.Problem("events", "Must be 'all', 'devices' or 'none'.");
                return false;
        }
        filter = new StreamFilter(withEvents, ofAll, records ?? false, devices, types);
        if (!filter.Events && !filter.Records)
        {
            problem = Validation.Problem("events", "A stream of neither events nor records carries nothing.");
            return false;
        }
        return true;
    }

    private static async IAsyncEnumerable<SseItem<string>> ReadAsync(
        Caller caller, StreamFilter filter, IMessageBus bus, LiveRecordHub hub, IDeviceStore devices, int buffer, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var channel = Channel.CreateBounded<LiveItem>(new BoundedChannelOptions(buffer) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
        await using var subscription = filter.Events
            ? await bus.SubscribeAsync(Topics.Events, message =>
            {
                if (filter.EventsOfAll || filter.Devices is null || (Guid.TryParse(message.GetString("device_id"), out var id) && filter.Devices.Contains(id)))
                {
                    // Handlers must not wait: a client that cannot keep up loses its stream, not the bus.
                    if (!channel.Writer.TryWrite(LiveItem.Of(message)))
                    {
                        channel.Writer.TryComplete();
                    }
                }
                return ValueTask.CompletedTask;
            }, cancellationToken)
            : null;
        using var recordSubscription = filter.Records
            ? hub.Subscribe(filter.Devices?.Select(DeviceServices.SeriesId).ToHashSet(StringComparer.Ordinal), filter.Types, channel.Writer)
            : null;

        yield return new SseItem<string>(TimeOnly(), "ready");
        // Visibility looked up once per device per drained batch, not cached for the stream: a device
        // moved to another domain stops streaming to its former domain at the next batch.
        var visible = new Dictionary<Guid, bool>();
        while (!cancellationToken.IsCancellationRequested)
        {
            bool more;
            using (var tick = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                tick.CancelAfter(KeepAlive);
                try
                {
                    more = await channel.Reader.WaitToReadAsync(tick.Token);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    more = true;
                }
                catch (LiveStreamOverflowException)
                {
                    more = false;
                }
            }
            if (!more)
            {
                yield break;
            }
            if (!channel.Reader.TryPeek(out _))
            {
                yield return new SseItem<string>(TimeOnly(), "ping");
                continue;
            }
            visible.Clear();
            while (channel.Reader.TryRead(out var item))
            {
                if (item.Event is { } message)
                {
                    if (await VisibleAsync(caller, message.GetString("device_id"), devices, visible, cancellationToken))
                    {
                        yield return new SseItem<string>(ToData(message), message.Call);
                    }
                }
                else if (item.Record is { } record)
                {
                    var deviceId = record.Id.StartsWith("dev-", StringComparison.Ordinal) ? record.Id[4..] : null;
                    if (await VisibleAsync(caller, deviceId, devices, visible, cancellationToken))
                    {
                        yield return new SseItem<string>(ToData(deviceId, record), RecordEvent);
                    }
                }
            }
        }
    }

    private static async ValueTask<bool> VisibleAsync(Caller caller, string? deviceText, IDeviceStore devices, Dictionary<Guid, bool> cache, CancellationToken cancellationToken)
    {
        if (caller.IsAdmin)
        {
            return true;
        }
        if (!Guid.TryParse(deviceText, out var deviceId))
        {
            // Events and records of no particular device (e.g. a new receiver node) are for administrators.
            return false;
        }
        if (!cache.TryGetValue(deviceId, out var visible))
        {
            visible = (await devices.GetAsync(deviceId, cancellationToken))?.DomainId == caller.DomainId;
            cache[deviceId] = visible;
        }
        return visible;
    }

    private static string TimeOnly() => $"{{\"time\":{DateTimeOffset.UtcNow.ToUnixTimeSeconds()}}}";

    private static string ToData(BusMessage message)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            foreach (var (name, value) in message.Fields)
            {
                if (name == "time")
                {
                    continue;
                }
                writer.WritePropertyName(name);
                if (value is null)
                {
                    writer.WriteNullValue();
                }
                else
                {
                    value.WriteTo(writer);
                }
            }
            writer.WriteNumber("time", message.Time);
            writer.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static string ToData(string? deviceId, TimeSeriesRecord record)
    {
        var buffer = new ArrayBufferWriter<byte>(128 + record.Data.Length);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            if (deviceId is not null)
            {
                writer.WriteString("device_id", deviceId);
            }
            else
            {
                writer.WriteString("series", record.Id);
            }
            writer.WriteString("type", record.Type);
            writer.WriteString("time", record.Time);
            writer.WritePropertyName("data");
            if (RawJsonConverter.IsValidJson(record.Data))
            {
                writer.WriteRawValue(record.Data, skipInputValidation: true);
            }
            else
            {
                writer.WriteStringValue(record.Data);
            }
            writer.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}
