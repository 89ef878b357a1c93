using System.Buffers;
using System.Net;
using M2M.Ingest.Authentication;
using M2M.Ingest.Connections;
using M2M.Ingest.Sessions;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace M2M.Ingest.Hosting;

/// <summary>
/// Runs the device listeners on a Kestrel server of their own (<c>ListenAnyIP(port, o =&gt;
/// o.UseConnectionHandler&lt;…&gt;())</c>), separate from the host's HTTP server. This way the ingest
/// module works in any host (web or not), and the host's HTTP endpoints (<c>urls</c>,
/// <c>ASPNETCORE_URLS</c>, <c>--urls</c>) keep working untouched: configuring endpoints in code on
/// the host's own Kestrel would make it ignore <c>urls</c>.
/// </summary>
internal sealed class IngestServer(
    IServiceProvider services,
    IOptions<IngestOptions> options,
    IngestEndpoints endpoints,
    ConnectionLimit limit,
    IngestTls tls,
    ConnectionRegistry registry,
    ILoggerFactory loggerFactory) : IHostedService, IAsyncDisposable
{
    private readonly ILogger _logger = loggerFactory.CreateLogger<IngestServer>();
    private KestrelServer? _server;
    private MemoryPool<byte>? _pool;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var o = options.Value;
        if (!o.Enabled)
        {
            endpoints.SetBound(null, null);
            return;
        }

        LogConnectionLimit();
        ListenOptions? m2mp = null;
        ListenOptions? alip = null;
        ListenOptions? m2mpTls = null;
        ListenOptions? alipTls = null;
        var kestrel = new KestrelServerOptions { ApplicationServices = o.Tls.Enabled ? WithKestrelMetrics(services) : services, AddServerHeader = false };
        if (o.PlainPorts)
        {
            kestrel.ListenAnyIP(o.M2mpPort, listen =>
            {
                m2mp = listen;
                listen.UseConnectionHandler<M2mpConnectionHandler>();
            });
            kestrel.ListenAnyIP(o.AlipPort, listen =>
            {
                alip = listen;
                listen.UseConnectionHandler<AlipConnectionHandler>();
            });
        }
        if (o.Tls.Enabled)
        {
            // Loaded now: a missing file, a wrong password or a key-less certificate stops the start with a clear message.
            var certificates = new TlsCertificates(o.Tls, loggerFactory.CreateLogger<TlsCertificates>(), services.GetService<TimeProvider>() ?? TimeProvider.System);
            tls.Certificates = certificates;
            var handshake = new TlsHandshakeCallbackOptions
            {
                OnConnection = _ => ValueTask.FromResult(certificates.ServerOptions),
                HandshakeTimeout = o.Tls.HandshakeTimeout,
            };
            kestrel.ListenAnyIP(o.Tls.M2mpPort, listen =>
            {
                m2mpTls = listen;
                listen.UseHttps(handshake);
                listen.UseConnectionHandler<M2mpConnectionHandler>();
            });
            kestrel.ListenAnyIP(o.Tls.AlipPort, listen =>
            {
                alipTls = listen;
                listen.UseHttps(handshake);
                listen.UseConnectionHandler<AlipConnectionHandler>();
            });
            certificates.StartReloading();
            _logger.LogInformation("TLS certificate {Subject} (thumbprint {Thumbprint}, valid until {NotAfter:O}); client certificates: {Mode}",
                certificates.ServerCertificate.Subject, certificates.ServerCertificate.Thumbprint, certificates.ServerCertificate.NotAfter.ToUniversalTime(), o.Tls.ClientCertificates);
        }

        // Built by the host's options factory so that the host's configuration of the socket transport
        // applies, in particular its memory pool factory: in a web host that is Kestrel's, whose pools
        // give idle blocks back (.NET 10), so that buffer memory taken by a burst of large frames returns.
        // A bare SocketTransportOptions would use a pool that keeps every block it ever allocated.
        var transportOptions = services.GetRequiredService<IOptionsFactory<SocketTransportOptions>>().Create(Options.DefaultName);
        transportOptions.NoDelay = true;
        // A whole frame must fit in the input pipe, or the reader would wait for bytes the pipe never lets in.
        transportOptions.MaxReadBufferSize = Math.Max(o.MaxFrameSize, o.MaxLineLength) + (64 * 1024);
        // Bytes a device has not taken yet: over it, writes wait (and time out: the device is disconnected).
        transportOptions.MaxWriteBufferSize = o.MaxPendingOutboundBytes;
        // With session threads, a read resumes a session only to post it to them (DeviceSession.RunAsync):
        // inline on the socket's receive work rather than as a thread-pool work item of its own.
        transportOptions.UnsafePreferInlineScheduling = o.SessionThreads > 0;
        IConnectionListenerFactory transport;
        if (o.Transport == DeviceTransport.Lean)
        {
            // Kestrel's pool when the host has one (idle blocks are given back), else the shared one.
            _pool = services.GetService<IMemoryPoolFactory<byte>>()?.Create(new MemoryPoolOptions()) ?? MemoryPool<byte>.Shared;
            transport = new DeviceSocketTransportFactory(transportOptions, _pool);
        }
        else
        {
            transport = new SocketTransportFactory(Options.Create(transportOptions), new ScopelessLoggerFactory(loggerFactory));
        }
        _server = new KestrelServer(Options.Create(kestrel), transport, new ScopelessLoggerFactory(loggerFactory));
        try
        {
            await _server.StartAsync(new NoHttpApplication(), cancellationToken);
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or IOException)
        {
            // The transport's own message names no port (e.g. "Address already in use").
            var ports = o.PlainPorts ? $"M2MP {o.M2mpPort}, ALIP {o.AlipPort}" : "no plain listeners";
            ports += o.Tls.Enabled ? $", M2MP/TLS {o.Tls.M2mpPort}, ALIP/TLS {o.Tls.AlipPort}" : "";
            throw new InvalidOperationException(
                $"The device listeners cannot listen ({e.Message}) on their ports: {ports} (M2M:Ingest:M2mpPort, AlipPort, Tls:M2mpPort, Tls:AlipPort).", e);
        }

        var m2mpEndPoint = m2mp?.IPEndPoint;
        var alipEndPoint = alip?.IPEndPoint;
        endpoints.SetBound(m2mpEndPoint, alipEndPoint, m2mpTls?.IPEndPoint, alipTls?.IPEndPoint);
        _logger.LogInformation("Device listeners: M2MP on {M2mp}, ALIP on {Alip}, M2MP/TLS on {M2mpTls}, ALIP/TLS on {AlipTls}",
            m2mpEndPoint?.ToString() ?? "off", alipEndPoint?.ToString() ?? "off", m2mpTls?.IPEndPoint?.ToString() ?? "off", alipTls?.IPEndPoint?.ToString() ?? "off");
    }

    private void LogConnectionLimit()
    {
        if (limit.Value == 0)
        {
            throw new InvalidOperationException(
                $"The open-files limit of the process ({limit.OpenFilesLimit}) leaves no descriptor for device connections once "
                + $"M2M:Ingest:ReservedFileDescriptors ({limit.Reserved}) are kept: raise it (ulimit -n, LimitNOFILE=) or lower the reserve.");
        }
        if (limit.OpenFilesLimit is { } openFiles)
        {
            _logger.LogInformation(
                "Device connection limit {Limit}: open-files limit {OpenFiles} minus {Reserved} reserved for storage, HTTP and the runtime (M2M:Ingest:ReservedFileDescriptors), M2M:Ingest:MaxConnections {MaxConnections}",
                limit.Value, openFiles, limit.Reserved, limit.MaxConnections);
        }
        else
        {
            _logger.LogInformation("Device connection limit {Limit} (M2M:Ingest:MaxConnections; no open-files limit to read)", limit.Value);
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_server is not null)
        {
            // Sessions say goodbye (ALIP QUIT) and end their loops, storing their last records; then
            // Kestrel closes the listeners and waits for the connections (aborting what is left at the deadline).
            registry.CloseAll("server shutting down");
            await _server.StopAsync(cancellationToken);
        }
    }

    public ValueTask DisposeAsync()
    {
        _server?.Dispose();
        _server = null;
        if (_pool is not null && _pool != MemoryPool<byte>.Shared)
        {
            _pool.Dispose();
        }
        _pool = null;
        tls.Certificates?.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Kestrel's TLS middleware (<c>UseHttps</c>) takes Kestrel's metrics service from the
    /// application services, which only a web host registers; in any other host the ingest module
    /// supplies one (made from the host's <c>IMeterFactory</c>), so TLS works in every host like the rest.
    /// </summary>
    private static IServiceProvider WithKestrelMetrics(IServiceProvider services)
    {
        var type = typeof(KestrelServer).Assembly.GetType("Microsoft.AspNetCore.Server.Kestrel.Core.Internal.Infrastructure.KestrelMetrics");
        return type is null || services.GetService(type) is not null
            ? services
            : new ServicesWith(services, type, ActivatorUtilities.CreateInstance(services, type));
    }

    private sealed class ServicesWith(IServiceProvider inner, Type type, object instance) : IServiceProvider
    {
        public object? GetService(Type serviceType) => serviceType == type ? instance : inner.GetService(serviceType);
    }

    /// <summary>The listeners speak device protocols only: the HTTP application is never called.</summary>
    private sealed class NoHttpApplication : IHttpApplication<IFeatureCollection>
    {
        public IFeatureCollection CreateContext(IFeatureCollection contextFeatures) => contextFeatures;

        public void DisposeContext(IFeatureCollection context, Exception? exception)
        {
        }

        public Task ProcessRequestAsync(IFeatureCollection context) => Task.CompletedTask;
    }
}
