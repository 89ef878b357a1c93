using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;
using Microsoft.AspNetCore.Http.Features;

namespace M2M.Ingest.Hosting;

/// <summary>
/// The stream under a <see cref="DeviceSocketConnection"/>'s reader and writer. Reads are the socket's
/// asynchronous receives (a zero-byte one waits for data without a buffer). Writes try a non-blocking
/// send first and wait asynchronously only for what the kernel did not take: a connection that never
/// had a full send buffer never creates the socket's cached send operation (~0.3 KiB kept for the
/// connection's life), and an answer costs no asynchronous round trip.
/// </summary>
/// <remarks>
/// A read or a send that had to wait resumes its caller as a work item of the thread pool's global
/// queue (unless <c>resumeOnThreadPool</c> is off), as Kestrel's pipes do. The socket completes a waited
/// operation inside its event processing, which handles the events of every socket in turn on a few
/// work items; a session resumed there runs its code there too, including the synchronous storage
/// writes of a new device's first exchange, so one session's write held up the wake-up of the other
/// sockets (a peer's close, new data) and, in a reconnect storm, kept the sockets of dead connections
/// open for tens of seconds (BENCHMARKS.md, the lean transport's storm). Resumed from the global queue,
/// sessions take their turn with everything else and the socket events are handled at once.
/// </remarks>
internal sealed class DeviceSocketStream : Stream, IValueTaskSource<int>, IThreadPoolWorkItem
{
    private readonly Socket _socket;
    private readonly bool _resumeOnThreadPool;

    // The waited read (one at a time: the pipe reader's): the socket's operation and what the reader awaits.
    private ConfiguredValueTaskAwaitable<int>.ConfiguredValueTaskAwaiter _receive;
    private ManualResetValueTaskSourceCore<int> _read;
    private Action? _onReceived;

    public DeviceSocketStream(Socket socket, bool resumeOnThreadPool = true)
    {
        _socket = socket;
        _resumeOnThreadPool = resumeOnThreadPool;
        // Affects the synchronous calls only (the non-blocking send below); asynchronous ones work as before.
        _socket.Blocking = false;
    }

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var receive = _socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
        if (receive.IsCompletedSuccessfully)
        {
            return receive;
        }
        if (receive.IsCompleted)
        {
            try
            {
                return ValueTask.FromResult(receive.GetAwaiter().GetResult());
            }
            catch (Exception e)
            {
                return ValueTask.FromException<int>(e is SocketException s ? ReadError(s) : e);
            }
        }
        // Waits: the socket's completion only queues the reader's continuation (Execute), or runs it
        // right there when the session moves to its own threads anyway (resumeOnThreadPool off).
        _read.Reset();
        _receive = receive.ConfigureAwait(false).GetAwaiter();
        _receive.UnsafeOnCompleted(_onReceived ??= _resumeOnThreadPool
            ? () => ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false)
            : ((IThreadPoolWorkItem)this).Execute);
        return new ValueTask<int>(this, _read.Version);
    }

    /// <summary>The end of a waited read (on the thread pool, unless resumeOnThreadPool is off): the reader's continuation runs here.</summary>
    void IThreadPoolWorkItem.Execute()
    {
        var receive = _receive;
        _receive = default;
        int received;
        try
        {
            received = receive.GetResult();
        }
        catch (Exception e)
        {
            _read.SetException(e is SocketException s ? ReadError(s) : e);
            return;
        }
        _read.SetResult(received);
    }

    int IValueTaskSource<int>.GetResult(short token) => _read.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<int>.GetStatus(short token) => _read.GetStatus(token);

    void IValueTaskSource<int>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _read.OnCompleted(continuation, state, token, flags);

    /// <summary>A lost connection is an <see cref="IOException"/> to the reader, as from a <see cref="NetworkStream"/>: the session ends quietly.</summary>
    private static IOException ReadError(SocketException e) =>
        new($"Unable to read data from the transport connection: {e.SocketErrorCode}.", e);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (!buffer.IsEmpty)
        {
            var sent = _socket.Send(buffer.Span, SocketFlags.None, out var error);
            if (error == SocketError.WouldBlock)
            {
                return SendRestAsync(buffer, cancellationToken);
            }
            if (error != SocketError.Success)
            {
                return ValueTask.FromException(new IOException($"Unable to write data to the transport connection: {error}.", new SocketException((int)error)));
            }
            buffer = buffer[sent..];
        }
        return ValueTask.CompletedTask;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) =>
        throw new NotSupportedException("Device sockets are read asynchronously.");

    public override void Write(byte[] buffer, int offset, int count) =>
        throw new NotSupportedException("Device sockets are written asynchronously.");

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    private async ValueTask SendRestAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
    {
        try
        {
            while (!buffer.IsEmpty)
            {
                // Waits until the kernel takes the bytes (the device reads): the caller's write timeout bounds it.
                var sent = await _socket.SendAsync(buffer, SocketFlags.None, cancellationToken).ConfigureAwait(false);
                buffer = buffer[sent..];
            }
        }
        catch (SocketException e)
        {
            throw new IOException($"Unable to write data to the transport connection: {e.SocketErrorCode}.", e);
        }
        if (_resumeOnThreadPool)
        {
            // The writer continues on the thread pool, not in the socket's event processing (see the remarks).
            await default(GlobalQueueHop);
        }
    }

    /// <summary>An await that continues as a work item of the thread pool's global queue.</summary>
    private readonly struct GlobalQueueHop : ICriticalNotifyCompletion
    {
        public bool IsCompleted => false;

        public GlobalQueueHop GetAwaiter() => this;

        public void GetResult()
        {
        }

        public void OnCompleted(Action continuation) =>
            ThreadPool.QueueUserWorkItem(static c => c(), continuation, preferLocal: false);

        public void UnsafeOnCompleted(Action continuation) =>
            ThreadPool.UnsafeQueueUserWorkItem(static c => c(), continuation, preferLocal: false);
    }
}

/// <summary>
/// The features of a device connection: the few that Kestrel and its TLS middleware set, in a small
/// array (a <see cref="FeatureCollection"/> keeps a dictionary, about 0.3 KiB per connection).
/// </summary>
internal sealed class SmallFeatureCollection : IFeatureCollection
{
    private KeyValuePair<Type, object>[] _items = new KeyValuePair<Type, object>[4];
    private int _count;

    public bool IsReadOnly => false;

    public int Revision { get; private set; }

    public object? this[Type key]
    {
        get
        {
            for (var i = 0; i < _count; i++)
            {
                if (_items[i].Key == key)
                {
                    return _items[i].Value;
                }
            }
            return null;
        }
        set
        {
            ArgumentNullException.ThrowIfNull(key);
            Revision++;
            for (var i = 0; i < _count; i++)
            {
                if (_items[i].Key == key)
                {
                    if (value is null)
                    {
                        _items[i] = _items[_count - 1];
                        _items[--_count] = default;
                    }
                    else
                    {
                        _items[i] = new(key, value);
                    }
                    return;
                }
            }
            if (value is null)
            {
                return;
            }
            if (_count == _items.Length)
            {
                Array.Resize(ref _items, _count * 2);
            }
            _items[_count++] = new(key, value);
        }
    }

    public TFeature? Get<TFeature>() => (TFeature?)this[typeof(TFeature)];

    public void Set<TFeature>(TFeature? instance) => this[typeof(TFeature)] = instance;

    public IEnumerator<KeyValuePair<Type, object>> GetEnumerator()
    {
        for (var i = 0; i < _count; i++)
        {
            yield return _items[i];
        }
    }

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}
