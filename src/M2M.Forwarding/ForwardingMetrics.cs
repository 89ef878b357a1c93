using System.Diagnostics.Metrics;

namespace M2M.Forwarding;

/// <summary>Instruments of forwarding (meter <c>M2M.Forwarding</c>).</summary>
public sealed class ForwardingMetrics
{
    public const string MeterName = "M2M.Forwarding";

    public ForwardingMetrics(IMeterFactory meterFactory, Func<IEnumerable<Measurement<long>>> backlog)
    {
        var meter = meterFactory.Create(MeterName);
        Deliveries = meter.CreateCounter<long>("m2m.forwarding.deliveries", "{delivery}", "Delivery attempts to webhook endpoints, by outcome (success, failure).");
        Items = meter.CreateCounter<long>("m2m.forwarding.items_delivered", "{item}", "Records and events acknowledged by webhook endpoints.");
        Duration = meter.CreateHistogram<double>("m2m.forwarding.delivery_duration", "s", "Duration of one delivery attempt.");
        EventsDropped = meter.CreateCounter<long>("m2m.forwarding.events_dropped", "{event}", "Bus events not queued for forwarding because the capture queue was full.");
        meter.CreateObservableGauge("m2m.forwarding.backlog", backlog, "{item}", "Items of the feed an endpoint has not acknowledged yet, by endpoint.");
    }

    public Counter<long> Deliveries { get; }

    public Counter<long> Items { get; }

    public Histogram<double> Duration { get; }

    public Counter<long> EventsDropped { get; }
}
