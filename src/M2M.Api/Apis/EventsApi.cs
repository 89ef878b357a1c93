using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Security.Claims;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using M2M.Api.Auth;
using M2M.Messaging;
using M2M.Storage.Entities;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;

namespace M2M.Api.Apis;

/// <summary>
/// <c>/api/events</c>: live device events as Server-Sent Events, from the bus's <c>events</c>
/// topic, filtered to the devices the caller may see. Each event's name is the bus call
/// (<c>device_connected</c>, <c>device_identified</c>, <c>device_disconnected</c>, …) and its data
/// the message's fields plus <c>time</c> (unix seconds). A <c>ping</c> event every
/// <see cref="KeepAlive"/> keeps idle connections open through proxies. A client that falls more
/// than <see cref="ApiOptions.EventBufferPerClient"/> events behind is disconnected (it reconnects
/// and resumes live) rather than growing the server's memory.
/// </summary>
public static class EventsApi
{
    /// <summary>Interval of the keep-alive <c>ping</c> events.</summary>
    public static readonly TimeSpan KeepAlive = TimeSpan.FromSeconds(20);

    public static RouteHandlerBuilder MapEventsApi(this IEndpointRouteBuilder routes) =>
        routes.MapGet("/events", Stream).WithName("streamEvents").WithTags("Events")
            .WithSummary("Live device events (Server-Sent Events) of the devices the caller may see.");

    internal static ServerSentEventsResult<JsonObject> Stream(ClaimsPrincipal user, IMessageBus bus, IDeviceStore devices, IOptions<ApiOptions> options, HttpContext http) =>
        TypedResults.ServerSentEvents(ReadAsync(Caller.From(user), bus, devices, options.Value.EventBufferPerClient, http.RequestAborted));

    private static async IAsyncEnumerable<SseItem<JsonObject>> ReadAsync(Caller caller, IMessageBus bus, IDeviceStore devices, int buffer, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var channel = Channel.CreateBounded<BusMessage>(new BoundedChannelOptions(buffer) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
        using var subscription = bus.Subscribe(Topics.Events, message =>
        {
            // Handlers must not wait: a client that cannot keep up loses its stream, not the bus.
            if (!channel.Writer.TryWrite(message))
            {
                channel.Writer.TryComplete();
            }
            return ValueTask.CompletedTask;
        });

        yield return new SseItem<JsonObject>(new JsonObject { ["time"] = DateTimeOffset.UtcNow.ToUnixTimeSeconds() }, "ready");
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
            }
            if (!more)
            {
                yield break;
            }
            if (!channel.Reader.TryPeek(out _))
            {
                yield return new SseItem<JsonObject>(new JsonObject { ["time"] = DateTimeOffset.UtcNow.ToUnixTimeSeconds() }, "ping");
                continue;
            }
            while (channel.Reader.TryRead(out var message))
            {
                if (await VisibleAsync(caller, message, devices, cancellationToken))
                {
                    yield return new SseItem<JsonObject>(ToData(message), message.Call);
                }
            }
        }
    }

    private static async ValueTask<bool> VisibleAsync(Caller caller, BusMessage message, IDeviceStore devices, CancellationToken cancellationToken)
    {
        if (caller.IsAdmin)
        {
            return true;
        }
        if (!Guid.TryParse(message.GetString("device_id"), out var deviceId))
        {
            // Events about no particular device (e.g. a new receiver node) are for administrators.
            return false;
        }
        // Looked up for every event, not cached per stream: a device moved to another domain must
        // stop streaming to its former domain at once.
        var domain = (await devices.GetAsync(deviceId, cancellationToken))?.DomainId;
        return domain == caller.DomainId;
    }

    private static JsonObject ToData(BusMessage message)
    {
        var data = (JsonObject)message.Fields.DeepClone();
        data["time"] = message.Time;
        return data;
    }
}
