using M2M.Messaging;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace M2M.Ingest.Hosting;

/// <summary>
/// Publishes <c>new_receiver</c> on <c>events</c> once this node's device listeners are bound: a new
/// receiver — an ingest node that holds device connections and takes the pushes addressed to them —
/// has started. Consumers learn which nodes exist (its name is the <c>_from</c> of its events and the
/// prefix of its connection ids) and that devices reconnecting to it will get what is pending at
/// their identification. Fields: <c>node</c>, <c>m2mp_port</c>, <c>alip_port</c> (absent when that
/// listener is off).
/// </summary>
internal sealed class ReceiverAnnouncement(IngestEndpoints endpoints, IngestNode node, IMessageBus bus, ILogger<ReceiverAnnouncement> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await endpoints.Started.WaitAsync(stoppingToken);
        if (endpoints.M2mp is null && endpoints.Alip is null)
        {
            // Ingest is disabled in this host: it receives nothing.
            return;
        }
        var message = new BusMessage(Calls.NewReceiver, node.Name).With("node", node.Name);
        if (endpoints.M2mp is { } m2mp)
        {
            message.With("m2mp_port", m2mp.Port);
        }
        if (endpoints.Alip is { } alip)
        {
            message.With("alip_port", alip.Port);
        }
        try
        {
            await bus.PublishAsync(Topics.Events, message, stoppingToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning(e, "Could not publish {Event}", Calls.NewReceiver);
        }
    }
}
