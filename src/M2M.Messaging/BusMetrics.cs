using System.Diagnostics.Metrics;

namespace M2M.Messaging;

/// <summary>Instruments of the bus (meter <c>M2M.Messaging</c>).</summary>
internal static class BusMetrics
{
    public static readonly Meter Meter = new("M2M.Messaging");
    public static readonly Counter<long> Published = Meter.CreateCounter<long>("m2m.bus.messages.published", description: "Messages published on the bus");
    public static readonly Counter<long> Delivered = Meter.CreateCounter<long>("m2m.bus.messages.delivered", description: "Messages handed to a subscriber");
    public static readonly Counter<long> HandlerErrors = Meter.CreateCounter<long>("m2m.bus.handler.errors", description: "Subscriber handlers that threw");
    public static readonly Counter<long> RecordsPublished = Meter.CreateCounter<long>("m2m.bus.records.published", description: "Records handed to the storage topic");
}
