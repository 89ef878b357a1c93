using M2M.Ingest.Connections;
using M2M.Ingest.Converters;
using M2M.Ingest.Hosting;
using M2M.Messaging;
using M2M.Storage.Entities;
using M2M.Storage.Files;
using M2M.Storage.TimeSeries;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace M2M.Ingest.Sessions;

/// <summary>What every device session needs, resolved once per node.</summary>
internal sealed class SessionServices(
    IOptions<IngestOptions> options,
    IngestNode node,
    ConnectionRegistry registry,
    ConnectionLimit limit,
    IMessageBus bus,
    PushDispatcher pushes,
    IRecordBus records,
    IDeviceStore devices,
    IFirmwareStore firmware,
    ChannelConverters converters,
    Authentication.DeviceAuthenticator authenticator,
    IServiceProvider services,
    ILoggerFactory loggerFactory) : IDisposable
{
    public IngestOptions Options { get; } = options.Value;

    public IngestNode Node { get; } = node;

    public ConnectionRegistry Registry { get; } = registry;

    /// <summary>The device connection limit of this node.</summary>
    public ConnectionLimit Limit { get; } = limit;

    public IMessageBus Bus { get; } = bus;

    /// <summary>Routes the pushes addressed to this node's devices and connections to their sessions.</summary>
    public PushDispatcher Pushes { get; } = pushes;

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

    /// <summary>The one timer that ticks every session of the node.</summary>
    public SessionTicker Ticker { get; } = new(registry, options.Value);

    /// <summary>The session threads (<see cref="IngestOptions.SessionThreads"/>); <c>null</c>: sessions run on the thread pool.</summary>
    public SessionScheduler? Scheduler { get; } = options.Value.SessionThreads > 0
        ? new SessionScheduler(options.Value.SessionThreads, options.Value.SessionThreadNice, loggerFactory.CreateLogger<SessionScheduler>())
        : null;

    public void Dispose()
    {
        Ticker.Dispose();
        Scheduler?.Dispose();
    }

    private readonly ILogger _admissionLogger = loggerFactory.CreateLogger<ConnectionLimit>();
    private long _refusedSinceLog;
    private long _lastRefusalLog = -1;

    /// <summary>
    /// Takes a place in the registry for a new connection, or closes it at once when the node holds
    /// its limit (counted; logged at most every 10 s, so that a flood does not flood the log too).
    /// </summary>
    public bool TryAdmit(ConnectionContext connection, DeviceProtocol protocol)
    {
        if (Registry.TryReserve(Limit.Value))
        {
            return true;
        }
        IngestMetrics.ConnectionsRefused.Add(1, IngestMetrics.Protocol(protocol));
        connection.Abort(new ConnectionAbortedException("Too many connections."));
        Interlocked.Increment(ref _refusedSinceLog);
        var now = Environment.TickCount64;
        var last = Interlocked.Read(ref _lastRefusalLog);
        if ((last < 0 || now - last >= 10_000) && Interlocked.CompareExchange(ref _lastRefusalLog, now, last) == last)
        {
            _admissionLogger.LogWarning(
                "Device connections refused: {Count} since the last report; the node holds its limit of {Limit} connections",
                Interlocked.Exchange(ref _refusedSinceLog, 0), Limit.Value);
        }
        return false;
    }

    /// <summary>Creates the session of an admitted connection, giving its place back if that fails.</summary>
    public Task RunAdmittedAsync(Func<DeviceSession> create)
    {
        DeviceSession session;
        try
        {
            session = create();
        }
        catch
        {
            Registry.Release();
            throw;
        }
        return session.RunAsync();
    }
}
