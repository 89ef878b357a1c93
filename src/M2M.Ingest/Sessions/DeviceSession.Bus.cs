using M2M.Messaging;
using Microsoft.Extensions.Logging;

namespace M2M.Ingest.Sessions;

internal abstract partial class DeviceSession
{
    /// <summary>
    /// Pushes addressed to this device or connection (<c>send_settings</c>, <c>send_commands</c>,
    /// <c>disconnect</c>), handed over by the node's <see cref="Connections.PushDispatcher"/>. Runs
    /// on the publisher's thread: it only queues work. Pushes are idempotent ("send what is
    /// pending"), so one queued push of each kind is enough.
    /// </summary>
    public void Push(BusMessage message)
    {
        switch (message.Call)
        {
            case Calls.SendSettings:
                Post(SessionWork.SendSettings);
                break;
            case Calls.SendCommands:
                Post(SessionWork.SendCommands);
                break;
            case Calls.Disconnect:
                RequestClose(message.GetString("reason") ?? "disconnect");
                break;
        }
    }

    /// <summary>Asks every node to close every connection of this device (<c>_special</c> <c>disconnect_us</c>).</summary>
    protected ValueTask DisconnectDeviceEverywhereAsync(string reason) =>
        Services.Bus.PublishAsync(
            Topics.Device(DeviceId),
            new BusMessage(Calls.Disconnect, Services.Node.Name).With("device_id", DeviceId.ToString("D")).With("reason", reason),
            CancellationToken.None);

    /// <summary>Publishes a lifecycle event on <c>events</c>.</summary>
    private ValueTask PublishEventAsync(string call, TimeSpan? duration)
    {
        var message = NewEvent(call);
        if (duration is { } d)
        {
            message.With("connection_duration", Math.Round(d.TotalSeconds, 3));
        }
        return PublishEventAsync(message);
    }

    /// <summary>An event of this connection (and of its device, once identified), to fill and publish.</summary>
    protected BusMessage NewEvent(string call)
    {
        var message = new BusMessage(call, Services.Node.Name)
            .With("source", RemoteAddress)
            .With("connection_id", ConnectionId)
            .With("protocol", Protocol == Connections.DeviceProtocol.M2mp ? "m2mp" : "alip");
        if (_deviceId is { } deviceId)
        {
            message.With("device_id", deviceId.ToString("D")).With("ident", _ident);
        }
        return message;
    }

    /// <summary>Publishes an event on <c>events</c>; a failure is logged, never thrown at the session.</summary>
    protected async ValueTask PublishEventAsync(BusMessage message)
    {
        try
        {
            await Services.Bus.PublishAsync(Topics.Events, message, CancellationToken.None);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Logger.LogWarning(e, "Could not publish {Event}", message.Call);
        }
    }
}
