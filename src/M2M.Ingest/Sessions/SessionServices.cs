using M2M.Ingest.Connections;
using M2M.Ingest.Converters;
using M2M.Ingest.Hosting;
using M2M.Messaging;
using M2M.Storage.Entities;
using M2M.Storage.Files;
using M2M.Storage.TimeSeries;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace M2M.Ingest.Sessions;

/// <summary>What every device session needs, resolved once per node.</summary>
internal sealed class SessionServices(
    IOptions<IngestOptions> options,
    IngestNode node,
    ConnectionRegistry registry,
    IMessageBus bus,
    IRecordBus records,
    IDeviceStore devices,
    IFirmwareStore firmware,
    ChannelConverters converters,
    Authentication.DeviceAuthenticator authenticator,
    IServiceProvider services,
    ILoggerFactory loggerFactory)
{
    public IngestOptions Options { get; } = options.Value;

    public IngestNode Node { get; } = node;

    public ConnectionRegistry Registry { get; } = registry;

    public IMessageBus Bus { get; } = bus;

    public IRecordBus Records { get; } = records;

    public IDeviceStore Devices { get; } = devices;

    public IFirmwareStore Firmware { get; } = firmware;

    /// <summary>The in-process converters, by topic.</summary>
    public ChannelConverters Converters { get; } = converters;

    /// <summary>Decides identifications (credentials, policies, auto-registration).</summary>
    public Authentication.DeviceAuthenticator Authenticator { get; } = authenticator;

    /// <summary>Read access to the time series (ALIP <c>DB LAST</c>); absent in a host without one.</summary>
    public ITimeSeriesStore? TimeSeries { get; } = services.GetService<ITimeSeriesStore>();

    public ILoggerFactory LoggerFactory { get; } = loggerFactory;

    public TimeProvider Time { get; } = services.GetService<TimeProvider>() ?? TimeProvider.System;
}
