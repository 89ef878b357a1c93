using System.Security.Claims;
using M2M.Api.Auth;
using M2M.Api.Fleet;
using M2M.Ingest.Connections;
using M2M.Messaging;
using M2M.Messaging.Presence;
using M2M.Storage.Entities;
using M2M.Storage.TimeSeries;

namespace M2M.Api.Apis;

/// <summary>What the device routes need, bound with <c>[AsParameters]</c>.</summary>
public sealed class DeviceServices(
    IDeviceStore devices,
    IDomainStore domains,
    IDevicePresence presence,
    IConnectionRegistry connections,
    IConnectedDevices online,
    IMessageBus bus,
    ITimeSeriesStore series,
    FleetIndex fleet,
    ClaimsPrincipal user,
    HttpContext http)
{
    /// <summary>Sender name of the pushes this API publishes.</summary>
    public const string BusSender = "api";

    public IDeviceStore Devices { get; } = devices;
    public IDomainStore Domains { get; } = domains;
    /// <summary>Where devices are connected, across every ingest node.</summary>
    public IDevicePresence Presence { get; } = presence;
    /// <summary>This node's own device connections (empty on an API node apart).</summary>
    public IConnectionRegistry Connections { get; } = connections;
    /// <summary>Which devices are connected anywhere, answered from memory (the fleet's online column).</summary>
    public IConnectedDevices Online { get; } = online;
    public IMessageBus Bus { get; } = bus;
    public ITimeSeriesStore Series { get; } = series;
    public FleetIndex Fleet { get; } = fleet;
    public ClaimsPrincipal User { get; } = user;
    public HttpContext Http { get; } = http;

    /// <summary>Who is calling (from the token).</summary>
    public Caller Caller => field ??= Caller.From(User);

    /// <summary>Cancelled when the client goes away.</summary>
    public CancellationToken Aborted => Http.RequestAborted;

    /// <summary>The device, when it exists and the caller may see it (else <c>null</c>: answer 404 either way).</summary>
    public async ValueTask<Device?> FindAsync(Guid id)
    {
        var device = await Devices.GetAsync(id, Aborted);
        return device is not null && Caller.CanSee(device.DomainId) ? device : null;
    }

    /// <summary>
    /// Waits (at most 5 s) until <see cref="Online"/> answers for every device: on an API node apart,
    /// its copy of the shared presence loads on first use. A copy still loading then answers with what it has.
    /// </summary>
    public async ValueTask WaitOnlineAsync()
    {
        using var ready = CancellationTokenSource.CreateLinkedTokenSource(Aborted);
        ready.CancelAfter(TimeSpan.FromSeconds(5));
        try
        {
            await Online.WaitReadyAsync(ready.Token);
        }
        catch (OperationCanceledException) when (!Aborted.IsCancellationRequested)
        {
        }
    }

    /// <summary>Asks the node holding the device to act now (<c>send_settings</c>, <c>send_commands</c>, <c>disconnect</c>).</summary>
    /// <remarks>
    /// Not cancelled when the client goes away: every caller pushes after its change is stored (with
    /// <see cref="CancellationToken.None"/> for that reason), and a push skipped then would leave a
    /// connected device without its command or setting until its next identification, or connected
    /// with credentials just revoked.
    /// </remarks>
    public ValueTask PushAsync(Guid deviceId, string call) =>
        Bus.PublishAsync(Topics.Device(deviceId), new BusMessage(call, BusSender, Topics.Device(deviceId)).With("device_id", deviceId.ToString("D")), CancellationToken.None);

    /// <summary>The series id of a device's records.</summary>
    public static string SeriesId(Guid deviceId) => $"dev-{deviceId:D}";
}
