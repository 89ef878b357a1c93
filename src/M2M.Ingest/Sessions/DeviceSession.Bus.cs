using M2M.Messaging;
using Microsoft.Extensions.Logging;

namespace M2M.Ingest.Sessions;

internal abstract partial class DeviceSession
{
    /// <summary>
    /// Pushes addressed to this device or connection (<c>send_settings</c>, <c>send_commands</c>,
    /// <c>disconnect</c>). Runs on the publisher's thread: it only queues work. Pushes are
    /// idempotent ("send what is pending"), so one queued push of each kind is enough.
    /// </summary>
    private ValueTask OnBusMessageAsync(BusMessage message)
    {
        switch (message.Call)
        {
            case Calls.SendSettings:
                Queue(ref _settingsPushQueued, SessionWork.SendSettings);
                break;
            case Calls.SendCommands:
                Queue(ref _commandsPushQueued, SessionWork.SendCommands);
                break;
            case Calls.Disconnect:
                RequestClose(message.GetString("reason") ?? "disconnect");
                break;
        }
        return ValueTask.CompletedTask;
    }

    private void Queue(ref int queued, SessionWork work)
    {
        if (Interlocked.Exchange(ref queued, 1) != 0)
        {
            return;
        }
        if (!_work.Writer.TryWrite(work))
        {
            Volatile.Write(ref queued, 0);
            if (!IsClosing)
            {
                // The session is far behind; the device gets everything again when it reconnects.
                IngestMetrics.ProtocolErrors.Add(1, ProtocolTag, new KeyValuePair<string, object?>("kind", "outbound_queue_full"));
                Logger.LogWarning("Outbound work queue full; closing");
                RequestClose("overloaded");
            }
        }
    }

    /// <summary>Asks every node to close every connection of this device (<c>_special</c> <c>disconnect_us</c>).</summary>
    protected ValueTask DisconnectDeviceEverywhereAsync(string reason) =>
        Services.Bus.PublishAsync(
            Topics.Device(DeviceId),
            new BusMessage(Calls.Disconnect, Services.Node.Name).With("device_id", DeviceId.ToString("D")).With("reason", reason),
            CancellationToken.None);

    /// <summary>Publishes a lifecycle event on <c>events</c>.</summary>
    private async ValueTask PublishEventAsync(string call, TimeSpan? duration)
    {
        var message = new BusMessage(call, Services.Node.Name)
            .With("source", RemoteAddress)
            .With("connection_id", ConnectionId)
            .With("protocol", Protocol == Connections.DeviceProtocol.M2mp ? "m2mp" : "alip");
        if (_deviceId is { } deviceId)
        {
            message.With("device_id", deviceId.ToString("D")).With("ident", _ident);
        }
        if (duration is { } d)
        {
            message.With("connection_duration", Math.Round(d.TotalSeconds, 3));
        }
        try
        {
            await Services.Bus.PublishAsync(Topics.Events, message, CancellationToken.None);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Logger.LogWarning(e, "Could not publish {Event}", call);
        }
    }
}
