using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;

namespace M2M.Ingest.Hosting;

/// <summary>
/// The device listeners' own socket transport (<see cref="IngestOptions.Transport"/> <c>Lean</c>,
/// the default): a connection is its socket with a reader and a writer straight on it, and nothing else.
/// Kestrel's socket transport gives each connection two pipes and two loops that copy between them
/// and the socket (about 2.3 KiB of objects per idle connection); here the reader waits for data with a
/// zero-byte read and takes a buffer from the pool only when bytes have arrived (an idle connection
/// holds none), and the writer sends on the caller's flush (no send loop, no second pipe). Kestrel still
/// accepts, dispatches, runs the TLS middleware and waits for the connections when stopping.
/// </summary>
internal sealed class DeviceSocketTransportFactory(SocketTransportOptions options, MemoryPool<byte> pool) : IConnectionListenerFactory
{
    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        var socket = SocketTransportOptions.CreateDefaultBoundListenSocket(endpoint);
        try
        {
            socket.Listen(options.Backlog);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        // With UnsafePreferInlineScheduling (session threads) a read resumes its session where it completes, as Kestrel's pipes do.
        return ValueTask.FromResult<IConnectionListener>(new Listener(socket, options.NoDelay, !options.UnsafePreferInlineScheduling, pool));
    }

    private sealed class Listener(Socket socket, bool noDelay, bool resumeOnThreadPool, MemoryPool<byte> pool) : IConnectionListener
    {
        private static readonly TimeSpan OutOfDescriptorsPause = TimeSpan.FromMilliseconds(20);

        public EndPoint EndPoint { get; } = socket.LocalEndPoint!;

        public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
        {
            while (true)
            {
                Socket accepted;
                try
                {
                    accepted = await socket.AcceptAsync(cancellationToken);
                }
                catch (Exception e) when (e is ObjectDisposedException or OperationCanceledException
                    || (e is SocketException s && s.SocketErrorCode is SocketError.OperationAborted or SocketError.Interrupted or SocketError.InvalidArgument))
                {
                    // Unbound or disposed: no more connections.
                    return null;
                }
                catch (SocketException e) when (e.SocketErrorCode == SocketError.TooManyOpenSockets)
                {
                    // Out of file descriptors (the process or the system): keep listening, the connections
                    // wait in the backlog until some close. A short pause, or this loop would spin.
                    await Task.Delay(OutOfDescriptorsPause, CancellationToken.None);
                    continue;
                }
                catch (SocketException)
                {
                    // The peer reset the connection while it waited in the backlog (or a like error of
                    // that one connection): take the next one. Giving up here would stop the listener for good.
                    continue;
                }
                try
                {
                    if (noDelay && accepted.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6)
                    {
                        accepted.NoDelay = true;
                    }
                    return new DeviceSocketConnection(accepted, pool, resumeOnThreadPool);
                }
                catch (SocketException)
                {
                    // Closed between accept and setup.
                    accepted.Dispose();
                }
            }
        }

        public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
        {
            socket.Dispose();
            return ValueTask.CompletedTask;
        }

        public ValueTask DisposeAsync()
        {
            socket.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}

/// <summary>
/// One device connection of <see cref="DeviceSocketTransportFactory"/>: a socket, its reader
/// (<see cref="DeviceSocketReader"/>) and its writer (<see cref="DeviceSocketWriter"/>). A TLS listener's
/// middleware puts its own pipes over these (<see cref="Transport"/>): it reads and writes the TLS records
/// through them, so TLS connections use them too.
/// </summary>
internal sealed class DeviceSocketConnection : ConnectionContext, IDuplexPipe
{
    // A read takes at least this much from the pool (the pool's block size); larger frames take more segments.
    private const int ReadBufferSize = 4096;
    private static long s_lastId;

    private readonly Socket _socket;
    private IDuplexPipe? _transport;
    private string? _connectionId;
    private IFeatureCollection? _features;
    private IDictionary<object, object?>? _items;
    private int _aborted;
    private int _disposed;

    public DeviceSocketConnection(Socket socket, MemoryPool<byte> pool, bool resumeOnThreadPool = true)
    {
        _socket = socket;
        // The reader and writer receive and send without blocking, and wait with the socket's asynchronous operations.
        _socket.Blocking = false;
        LocalEndPoint = socket.LocalEndPoint;
        RemoteEndPoint = socket.RemoteEndPoint;
        Input = new DeviceSocketReader(socket, pool, ReadBufferSize, ReadBufferSize / 4, resumeOnThreadPool);
        Output = new DeviceSocketWriter(socket, pool, ReadBufferSize, resumeOnThreadPool);
    }

    public PipeReader Input { get; }

    public PipeWriter Output { get; }

    /// <summary>The socket's reader and writer, or what a connection middleware put over them (TLS).</summary>
    public override IDuplexPipe Transport
    {
        get => _transport ?? this;
        set => _transport = value;
    }

    public override string ConnectionId
    {
        get => _connectionId ??= "dev-" + Interlocked.Increment(ref s_lastId).ToString(System.Globalization.CultureInfo.InvariantCulture);
        set => _connectionId = value;
    }

    public override IFeatureCollection Features => _features ??= new SmallFeatureCollection();

    public override IDictionary<object, object?> Items
    {
        get => _items ??= new Dictionary<object, object?>();
        set => _items = value;
    }

    /// <summary>
    /// Ends the connection now: a pending read completes (as the end of the input), later writes fail.
    /// The socket itself is closed when Kestrel disposes the connection.
    /// </summary>
    public override void Abort(ConnectionAbortedException abortReason)
    {
        if (Interlocked.Exchange(ref _aborted, 1) != 0)
        {
            return;
        }
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Already closed.
        }
    }

    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        // The session completed its reader and writer (sending what it wrote); this only releases what is left.
        Abort(new ConnectionAbortedException("Disposed."));
        try
        {
            await Output.CompleteAsync();
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // Unsent bytes of an aborted connection.
        }
        await Input.CompleteAsync();
        _socket.Dispose();
    }
}
