using System.Net;
using M2M.Ingest.Connections;
using M2M.Ingest.Sessions;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
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
    ILoggerFactory loggerFactory) : IHostedService, IAsyncDisposable
{
    private readonly ILogger _logger = loggerFactory.CreateLogger<IngestServer>();
    private KestrelServer? _server;

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
        var kestrel = new KestrelServerOptions { ApplicationServices = services, AddServerHeader = false };
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
        var transport = new SocketTransportFactory(Options.Create(transportOptions), loggerFactory);
        _server = new KestrelServer(Options.Create(kestrel), transport, loggerFactory);
        await _server.StartAsync(new NoHttpApplication(), cancellationToken);

        var m2mpEndPoint = m2mp?.IPEndPoint;
        var alipEndPoint = alip?.IPEndPoint;
        endpoints.SetBound(m2mpEndPoint, alipEndPoint);
        _logger.LogInformation("Device listeners: M2MP on {M2mp}, ALIP on {Alip}", m2mpEndPoint, alipEndPoint);
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
            // Closes the listeners, then the connections; sessions end their loops and store their last records.
            await _server.StopAsync(cancellationToken);
        }
    }

    public ValueTask DisposeAsync()
    {
        _server?.Dispose();
        _server = null;
        return ValueTask.CompletedTask;
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
