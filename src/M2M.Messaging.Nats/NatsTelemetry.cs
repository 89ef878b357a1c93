using System.Diagnostics;
using System.Diagnostics.Metrics;
using NATS.Client.Core;

namespace M2M.Messaging.Nats;

/// <summary>
/// Traces and metrics of the NATS bus, under the messaging module's names (<c>M2M.Messaging</c>).
/// The trace context crosses the broker in the W3C <c>traceparent</c> / <c>tracestate</c> headers.
/// </summary>
internal static class NatsTelemetry
{
    public const string Name = "M2M.Messaging";
    public const string TraceParent = "traceparent";
    public const string TraceState = "tracestate";

    public static readonly ActivitySource Source = new(Name);
    private static readonly Meter Meter = new(Name);

    public static readonly Counter<long> StoragePublished = Meter.CreateCounter<long>("m2m.bus.storage.messages", "{message}", "JetStream messages of records acknowledged by the stream.");
    public static readonly Counter<long> StoragePublishErrors = Meter.CreateCounter<long>("m2m.bus.storage.publish_errors", "{error}", "Failed JetStream publishes (retried).");
    public static readonly Histogram<double> StorageAckLatency = Meter.CreateHistogram<double>("m2m.bus.storage.ack_latency", "ms", "From a JetStream publish to its acknowledgement.");
    public static readonly Counter<long> WriterRecords = Meter.CreateCounter<long>("m2m.bus.writer.records", "{record}", "Records committed by this storage writer.");
    public static readonly Counter<long> WriterCommitErrors = Meter.CreateCounter<long>("m2m.bus.writer.commit_errors", "{error}", "Failed commits of a storage writer (retried).");
    public static readonly Counter<long> WriterPoison = Meter.CreateCounter<long>("m2m.bus.writer.rejected", "{item}", "Storage messages or records that cannot be decoded or stored, dropped with a log line.");
    public static readonly Counter<long> BadMessages = Meter.CreateCounter<long>("m2m.bus.messages.invalid", "{message}", "Bus messages that are not valid JSON objects, dropped.");

    /// <summary>Headers carrying <paramref name="context"/>, or <c>null</c> when there is none.</summary>
    public static NatsHeaders? Headers(ActivityContext context)
    {
        if (context == default)
        {
            return null;
        }
        var headers = new NatsHeaders { [TraceParent] = TraceParentOf(context) };
        if (!string.IsNullOrEmpty(context.TraceState))
        {
            headers[TraceState] = context.TraceState;
        }
        return headers;
    }

    public static string TraceParentOf(ActivityContext context) =>
        $"00-{context.TraceId.ToHexString()}-{context.SpanId.ToHexString()}-{((context.TraceFlags & ActivityTraceFlags.Recorded) != 0 ? "01" : "00")}";

    /// <summary>The context a message's headers carry, or <c>default</c>.</summary>
    public static ActivityContext ContextOf(NatsHeaders? headers)
    {
        if (headers is null || !headers.TryGetValue(TraceParent, out var parent))
        {
            return default;
        }
        headers.TryGetValue(TraceState, out var state);
        return ActivityContext.TryParse(parent.ToString(), state.Count > 0 ? state.ToString() : null, isRemote: true, out var context) ? context : default;
    }
}
