using System.Diagnostics.Metrics;

namespace M2M.Ingest;

/// <summary>Instruments of the device listeners and sessions (meter <c>M2M.Ingest</c>).</summary>
internal static class IngestMetrics
{
    public const string MeterName = "M2M.Ingest";

    public static readonly Meter Meter = new(MeterName);

    public static readonly UpDownCounter<long> Connections = Meter.CreateUpDownCounter<long>(
        "m2m.ingest.connections", description: "Open device connections, by protocol");

    public static readonly Counter<long> ConnectionsRefused = Meter.CreateCounter<long>(
        "m2m.ingest.connections.refused", description: "Connections closed at once because the node holds the maximum");

    public static readonly Counter<long> MessagesIn = Meter.CreateCounter<long>(
        "m2m.ingest.messages.in", description: "Frames (M2MP) or lines (ALIP) received, by protocol");

    public static readonly Counter<long> MessagesOut = Meter.CreateCounter<long>(
        "m2m.ingest.messages.out", description: "Frames or lines sent, by protocol");

    public static readonly Counter<long> ProtocolErrors = Meter.CreateCounter<long>(
        "m2m.ingest.protocol.errors", description: "Protocol violations and refused input, by protocol and kind");

    public static readonly Counter<long> RecordsPublished = Meter.CreateCounter<long>(
        "m2m.ingest.records.published", description: "Time-series records handed to the storage topic, by protocol");

    public static readonly Counter<long> DroppedBeforeIdentification = Meter.CreateCounter<long>(
        "m2m.ingest.records.dropped_unidentified", description: "Data received before identification and dropped");

    public static readonly Counter<long> FutureRecords = Meter.CreateCounter<long>(
        "m2m.ingest.records.future", description: "Records stamped more than the tolerance in the future (stored, suspicious)");

    public static readonly Counter<long> ConverterFrames = Meter.CreateCounter<long>(
        "m2m.ingest.converter.frames", description: "Frames of translated channels, by protocol and result (converted, empty, rejected, refused, timeout, failed, external)");

    public static readonly Histogram<double> BarrierLatency = Meter.CreateHistogram<double>(
        "m2m.ingest.barrier.latency", unit: "ms", description: "Time from a device's barrier to its answer");

    public static readonly Counter<long> Identifications = Meter.CreateCounter<long>(
        "m2m.ingest.identifications", description: "Identification attempts, by protocol and result");

    public static readonly Counter<long> Disconnects = Meter.CreateCounter<long>(
        "m2m.ingest.disconnects", description: "Connections closed by the server, by reason");

    public static KeyValuePair<string, object?> Protocol(Connections.DeviceProtocol protocol) =>
        new("protocol", protocol == Ingest.Connections.DeviceProtocol.M2mp ? "m2mp" : "alip");
}
