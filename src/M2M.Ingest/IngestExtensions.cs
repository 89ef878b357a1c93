using M2M.Ingest.Authentication;
using M2M.Ingest.Connections;
using M2M.Ingest.Converters;
using M2M.Ingest.Hosting;
using M2M.Ingest.Sessions;
using M2M.Messaging.Presence;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace M2M.Ingest;

/// <summary>Registers the ingest module (device listeners and sessions) in a host.</summary>
public static class IngestExtensions
{
    /// <summary>
    /// Adds the M2MP and ALIP listeners (configuration <c>M2M:Ingest</c>), the per-node
    /// <see cref="IConnectionRegistry"/> and <see cref="IngestEndpoints"/>. The listeners run on a
    /// Kestrel server of their own, so the host's HTTP endpoints (<c>urls</c>) are not affected and a
    /// host without HTTP can serve devices too. Needs the bus (<c>AddBus</c>) and the storage
    /// (<c>AddStorage</c> and a backend such as <c>AddRocksStorage</c>) in the same host.
    /// </summary>
    public static TBuilder AddIngest<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddOptions<IngestOptions>()
            .Bind(builder.Configuration.GetSection(IngestOptions.Section))
            .Validate(o => o.M2mpPort is >= 0 and <= 65535 && o.AlipPort is >= 0 and <= 65535, "Ingest ports must be in 0..65535.")
            .Validate(o => o.MaxConnections > 0, "M2M:Ingest:MaxConnections must be positive.")
            .Validate(o => o.ReservedFileDescriptors >= 0, "M2M:Ingest:ReservedFileDescriptors must not be negative.")
            .Validate(o => o.MaxFrameSize >= 16, "M2M:Ingest:MaxFrameSize must be at least 16 bytes.")
            .Validate(o => o.MaxLineLength is >= 16 and <= 1024 * 1024, "M2M:Ingest:MaxLineLength must be in 16..1048576.")
            .Validate(o => o.SessionThreads is >= 0 and <= 256, "M2M:Ingest:SessionThreads must be in 0..256 (0 = the thread pool).")
            .Validate(o => o.SessionThreadNice is >= 0 and <= 19, "M2M:Ingest:SessionThreadNice must be in 0..19.")
            .Validate(o => o.MemoryTrimThreshold >= 0, "M2M:Ingest:MemoryTrimThreshold must not be negative.")
            .Validate(o => o.MaxUnidentifiedMessageSize >= 260, "M2M:Ingest:MaxUnidentifiedMessageSize must be at least 260 bytes (an identification).")
            .Validate(o => o.MaxPendingOutboundBytes >= 1024, "M2M:Ingest:MaxPendingOutboundBytes must be at least 1024.")
            .Validate(o => o.MaxRecordsPerSecond >= 0, "M2M:Ingest:MaxRecordsPerSecond must not be negative.")
            .Validate(o => o.FirmwareChunkMax > 0, "M2M:Ingest:FirmwareChunkMax must be positive.")
            .Validate(
                o => o.IdentificationTimeout > TimeSpan.Zero && o.PingAfterIdle > TimeSpan.Zero && o.PingMinSendGap >= TimeSpan.Zero
                    && o.IdleDisconnect > TimeSpan.Zero && o.WriteTimeout > TimeSpan.Zero && o.BarrierTimeout > TimeSpan.Zero
                    && o.ConverterTimeout > TimeSpan.Zero && o.PresenceRefresh > TimeSpan.Zero && o.PresenceLastSeenInterval > TimeSpan.Zero,
                "M2M:Ingest timeouts must be positive.")
            .Validate(o => o.M2mpIdleDisconnect >= TimeSpan.Zero, "M2M:Ingest:M2mpIdleDisconnect must not be negative (0 = off).")
            .Validate(o => o.PlainPorts || o.Tls.Enabled, "M2M:Ingest: PlainPorts is false and Tls:Enabled is false: no device could connect.")
            .Validate(o => o.Tls.M2mpPort is >= 0 and <= 65535 && o.Tls.AlipPort is >= 0 and <= 65535, "M2M:Ingest:Tls ports must be in 0..65535.")
            .Validate(o => o.Tls.HandshakeTimeout > TimeSpan.Zero && o.Tls.ReloadInterval >= TimeSpan.Zero, "M2M:Ingest:Tls:HandshakeTimeout must be positive and ReloadInterval not negative.")
            .Validate(o => o.Auth.AutoRegisterPerMinute is >= 0 and <= 1_000_000, "M2M:Ingest:Auth:AutoRegisterPerMinute must be in 0..1000000.")
            .Validate(o => o.Auth.AutoRegisterPatterns.Count <= Storage.Entities.IdentPattern.MaxCount && o.Auth.AutoRegisterPatterns.All(p => Storage.Entities.IdentPattern.Check(p) is null),
                "M2M:Ingest:Auth:AutoRegisterPatterns: at most 100 patterns of printable ASCII without spaces ('*' and '?' are wildcards).")
            .Validate(o => o.Auth.FailuresBeforeDelay >= 0 && o.Auth.FailureWindow > TimeSpan.Zero && o.Auth.MaxFailureDelay >= TimeSpan.Zero
                && o.Auth.MaxTrackedAddresses > 0 && o.Auth.PolicyCacheDuration >= TimeSpan.Zero, "M2M:Ingest:Auth throttling settings must not be negative.")
            .ValidateOnStart();

        builder.Services.TryAddSingleton<IngestNode>();
        builder.Services.TryAddSingleton<ConnectionLimit>();
        builder.Services.TryAddSingleton<ConnectionRegistry>();
        builder.Services.TryAddSingleton<IConnectionRegistry>(sp => sp.GetRequiredService<ConnectionRegistry>());
        // Single process: the devices connected are this node's (a distributed API node has the NATS bus's watched copy).
        builder.Services.TryAddSingleton<IConnectedDevices>(sp => sp.GetRequiredService<ConnectionRegistry>());
        builder.Services.TryAddSingleton<IngestEndpoints>();
        builder.Services.TryAddSingleton<IDevicePresence, LocalDevicePresence>();
        builder.Services.AddHostedService<PresenceTracker>();
        builder.Services.TryAddSingleton<IngestTls>();
        builder.Services.TryAddSingleton<DeviceAuthenticator>();
        builder.Services.TryAddSingleton<SessionServices>();
        builder.Services.TryAddSingleton<PushDispatcher>();
        builder.Services.TryAddSingleton<ChannelConverters>();
        builder.Services.AddChannelConverter<NmeaConverter>();
        builder.Services.AddHostedService<IngestServer>();
        builder.Services.AddHostedService<ReceiverAnnouncement>();
        builder.Services.AddHostedService<MemoryTrimmer>();
        return builder;
    }
}
