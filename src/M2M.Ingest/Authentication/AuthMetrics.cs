using System.Diagnostics.Metrics;

namespace M2M.Ingest.Authentication;

/// <summary>Instruments of device authentication (meter <c>M2M.Ingest</c>).</summary>
internal static class AuthMetrics
{
    public static readonly Counter<long> Refused = IngestMetrics.Meter.CreateCounter<long>(
        "m2m.ingest.identifications.refused", description: "Refused identifications, by protocol and reason");

    public static readonly Counter<long> AutoRegistered = IngestMetrics.Meter.CreateCounter<long>(
        "m2m.ingest.devices.auto_registered", description: "Devices created by auto-registration, by protocol");

    public static readonly Counter<long> Delayed = IngestMetrics.Meter.CreateCounter<long>(
        "m2m.ingest.identifications.delayed", description: "Identifications delayed because their address had too many failures");

    public static readonly Counter<long> TlsReloads = IngestMetrics.Meter.CreateCounter<long>(
        "m2m.ingest.tls.reloads", description: "Reloads of the TLS certificate files, by result");
}
