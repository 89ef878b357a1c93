using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;

namespace M2M.Ingest.Hosting;

/// <summary>
/// The input of a <see cref="DeviceSocketConnection"/>: a <see cref="PipeReader"/> straight on the socket.
/// With nothing buffered it waits for data with a zero-byte receive and takes a block from the pool only
/// once bytes are there (a non-blocking receive into it); the blocks go back as soon as every byte is
/// consumed, so an idle connection holds none. Bytes left unconsumed (a frame split across reads) stay
/// buffered, further bytes are read right after them, into the tail block while it has room and into new
/// blocks after that (a frame larger than a block spans several).
/// </summary>
/// <remarks>
/// <para>Nothing is allocated per read: the waited receive is the socket's own cached operation, and the
/// reader is the one <see cref="IValueTaskSource{TResult}"/> of its reads. There is no cancellation token
/// source: <see cref="CancelPendingRead"/> sets a flag, or completes the waiting read at once (the zero-byte
/// receive stays pending on the socket and a later read takes it over); a caller's token is registered
/// only while a read with it waits.</para>
/// <para>A read that had to wait resumes its caller as a work item of the thread pool's global queue
/// (unless <c>resumeOnThreadPool</c> is off), as Kestrel's pipes do. The socket completes a waited
/// operation inside its event processing, which handles the events of every socket in turn on a few work
/// items; a session resumed there runs its code there too, including the synchronous storage writes of a
/// new device's first exchange, so one session's write held up the wake-up of the other sockets (a peer's
/// close, new data) and, in a reconnect storm, kept the sockets of dead connections open for tens of
/// seconds (BENCHMARKS.md, the lean transport's storm). Resumed from the global queue, sessions take their
/// turn with everything else and the socket events are handled at once.</para>
/// <para>The end of the input (the peer's FIN, or <see cref="DeviceSocketConnection.Abort"/>) is a result
/// with <see cref="ReadResult.IsCompleted"/>; a lost connection (a reset) is an <see cref="IOException"/>,
/// as from a <see cref="NetworkStream"/>, so that a session ends quietly.</para>
/// </remarks>
internal sealed class DeviceSocketReader : PipeReader, IValueTaskSource<ReadResult>, IThreadPoolWorkItem
{
    private static readonly Action<object?> s_cancelFromToken = static reader => ((DeviceSocketReader)reader!).CancelFromToken();

    private readonly Socket _socket;
    private readonly MemoryPool<byte> _pool;
    private readonly int _bufferSize;
    private readonly int _minimumReadSize;
    private readonly bool _resumeOnThreadPool;

    // The buffered bytes: from _headIndex of _head to the end of _tail (null when none); _end is the
    // stream offset after the last byte received (segments carry stream offsets as their running index).
    private DeviceSocketSegment? _head;
    private DeviceSocketSegment? _tail;
    private int _headIndex;
    private long _end;

    private bool _examinedAll;
    private bool _reading;
    private bool _cancelRequested;
    private bool _ended;
    private bool _completed;
    private Exception? _error;

    // The waited read: a zero-byte receive in flight on the socket, and whether a ReadAsync waits for it.
    private bool _receiving;
    private bool _awaiting;
    private ConfiguredValueTaskAwaitable<int>.ConfiguredValueTaskAwaiter _receive;
    private Action? _onReceived;
    private CancellationToken _readToken;
    private CancellationTokenRegistration _readRegistration;
    private ManualResetValueTaskSourceCore<ReadResult> _read;

    /// <param name="socket">A connected socket, non-blocking (<see cref="Socket.Blocking"/> off).</param>
    /// <param name="pool">Where the read buffers come from.</param>
    /// <param name="bufferSize">The size of a read buffer (at most the pool's block size).</param>
    /// <param name="minimumReadSize">Less room than this left in the last buffer: the next bytes go to a new one.</param>
    /// <param name="resumeOnThreadPool">A read that waited resumes its caller on the thread pool (see the remarks).</param>
    public DeviceSocketReader(Socket socket, MemoryPool<byte> pool, int bufferSize, int minimumReadSize, bool resumeOnThreadPool = true)
    {
        _socket = socket;
        _pool = pool;
        _bufferSize = Math.Min(bufferSize, pool.MaxBufferSize);
        _minimumReadSize = Math.Clamp(minimumReadSize, 1, _bufferSize);
        _resumeOnThreadPool = resumeOnThreadPool;
    }

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfCompleted();
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<ReadResult>(cancellationToken);
        }
        lock (this)
        {
            if (_awaiting)
            {
                throw new InvalidOperationException("A read is already pending on this connection.");
            }
            _awaiting = true;
            _readToken = cancellationToken;
            _read.Reset();
            _read.RunContinuationsAsynchronously = false;
            if (!TryComplete(out var result, out var error))
            {
                // Waits: the receive's completion (or a cancellation) completes the read.
                return new ValueTask<ReadResult>(this, _read.Version);
            }
            EndRead();
            if (error is not null)
            {
                return ValueTask.FromException<ReadResult>(error);
            }
            _reading = true;
            return new ValueTask<ReadResult>(result);
        }
    }

    public override bool TryRead(out ReadResult result)
    {
        ThrowIfCompleted();
        lock (this)
        {
            if (_awaiting)
            {
                throw new InvalidOperationException("A read is already pending on this connection.");
            }
            if (!TryGetResult(out result, out var error))
            {
                return false;
            }
            if (error is not null)
            {
                throw error;
            }
            _reading = true;
            return true;
        }
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        ThrowIfCompleted();
        DeviceSocketSegment? released = null;
        lock (this)
        {
            if (!_reading)
            {
                throw new InvalidOperationException("No read to advance: AdvanceTo follows a ReadAsync or TryRead that returned a result.");
            }
            if (_head is null)
            {
                // The empty buffer: nothing to consume, and nothing new to wait for but new bytes.
                _reading = false;
                _examinedAll = true;
                return;
            }
            var start = _head.RunningIndex + _headIndex;
            var consumedAt = OffsetOf(consumed, nameof(consumed));
            var examinedAt = OffsetOf(examined, nameof(examined));
            if (consumedAt < start || consumedAt > _end)
            {
                throw new ArgumentOutOfRangeException(nameof(consumed), "The consumed position is outside the buffer of the last read.");
            }
            if (examinedAt < consumedAt || examinedAt > _end)
            {
                throw new ArgumentOutOfRangeException(nameof(examined), "The examined position is before the consumed one or outside the buffer of the last read.");
            }
            _reading = false;
            // Everything examined: the next read waits for new bytes instead of returning these again.
            _examinedAll = examinedAt == _end;
            if (consumedAt == _end)
            {
                // All consumed: every block goes back to the pool.
                released = _head;
                _head = null;
                _tail = null;
                _headIndex = 0;
            }
            else
            {
                var head = _head;
                while (consumedAt >= head.RunningIndex + head.Length)
                {
                    // Not the tail: the tail ends at _end, after consumedAt.
                    var next = head.NextSegment!;
                    head.Release();
                    head = next;
                }
                _head = head;
                _headIndex = (int)(consumedAt - head.RunningIndex);
            }
        }
        DeviceSocketSegment.ReleaseChain(released);
    }

    /// <summary>The pending read returns now with <see cref="ReadResult.IsCanceled"/>, or the next one does if none waits.</summary>
    public override void CancelPendingRead()
    {
        ReadResult result;
        lock (this)
        {
            if (!_awaiting)
            {
                _cancelRequested = true;
                return;
            }
            EndRead();
            result = new ReadResult(Buffered(), isCanceled: true, isCompleted: _ended);
            _reading = true;
            // Not on the canceller's stack (it may hold locks of its own, or be a session thread): on the thread pool.
            _read.RunContinuationsAsynchronously = true;
        }
        _read.SetResult(result);
    }

    public override void Complete(Exception? exception = null)
    {
        DeviceSocketSegment? released;
        lock (this)
        {
            if (_completed)
            {
                return;
            }
            _completed = true;
            released = _head;
            _head = null;
            _tail = null;
            _headIndex = 0;
        }
        // A zero-byte receive still pending holds no buffer: it ends with the connection.
        DeviceSocketSegment.ReleaseChain(released);
    }

    ReadResult IValueTaskSource<ReadResult>.GetResult(short token) => _read.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<ReadResult>.GetStatus(short token) => _read.GetStatus(token);

    void IValueTaskSource<ReadResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _read.OnCompleted(continuation, state, token, flags);

    /// <summary>The end of a waited receive (on the thread pool, unless resumeOnThreadPool is off): a waiting read's caller continues here.</summary>
    void IThreadPoolWorkItem.Execute()
    {
        ReadResult result;
        Exception? error;
        lock (this)
        {
            _receiving = false;
            EndReceive(_receive);
            _receive = default;
            if (!_awaiting)
            {
                // The read was cancelled meanwhile: what the receive found is looked at by the next read.
                return;
            }
            if (_completed)
            {
                result = default;
                error = new InvalidOperationException("The reader was completed while a read was pending.");
            }
            else if (!TryComplete(out result, out error))
            {
                // Nothing to read after all (another receive took the bytes): waits again.
                return;
            }
            EndRead();
            if (error is null)
            {
                _reading = true;
            }
        }
        if (error is not null)
        {
            _read.SetException(error);
        }
        else
        {
            _read.SetResult(result);
        }
    }

    /// <summary>
    /// Under the lock, with a read waiting: gives its result if there is one, receiving what the socket
    /// has without waiting; otherwise starts (or keeps) a zero-byte receive and returns <c>false</c>.
    /// </summary>
    private bool TryComplete(out ReadResult result, out Exception? error)
    {
        while (true)
        {
            if (TryGetResult(out result, out error))
            {
                return true;
            }
            if (_head is not null && TryReceive())
            {
                // Bytes of a frame already wait: the next ones are read straight after them.
                continue;
            }
            if (_receiving)
            {
                // The receive of a cancelled read is still pending: its completion continues this read.
                return false;
            }
            var receive = _socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None).ConfigureAwait(false).GetAwaiter();
            if (receive.IsCompleted)
            {
                if (EndReceive(receive))
                {
                    TryReceive();
                }
                continue;
            }
            _receiving = true;
            _receive = receive;
            if (_readToken.CanBeCanceled && _readRegistration == default)
            {
                // May run the cancellation right here (it completes the read; the receive stays pending).
                _readRegistration = _readToken.UnsafeRegister(s_cancelFromToken, this);
            }
            _receive.UnsafeOnCompleted(_onReceived ??= _resumeOnThreadPool
                ? () => ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false)
                : ((IThreadPoolWorkItem)this).Execute);
            return false;
        }
    }

    /// <summary>The result a read can give now, if any: a cancellation, bytes not examined yet, the end, an error.</summary>
    private bool TryGetResult(out ReadResult result, out Exception? error)
    {
        error = null;
        if (_cancelRequested)
        {
            _cancelRequested = false;
            result = new ReadResult(Buffered(), isCanceled: true, isCompleted: _ended);
            return true;
        }
        if ((_head is not null && !_examinedAll) || _ended)
        {
            result = new ReadResult(Buffered(), isCanceled: false, isCompleted: _ended);
            return true;
        }
        result = default;
        if (_error is not null)
        {
            error = _error;
            return true;
        }
        return false;
    }

    /// <summary>
    /// Receives what the socket holds without waiting, after the buffered bytes. <c>true</c> when that
    /// changed something (bytes, the end, an error), <c>false</c> when there was nothing.
    /// </summary>
    private bool TryReceive()
    {
        var tail = _tail;
        var target = tail;
        if (target is null || target.Free < _minimumReadSize)
        {
            target = DeviceSocketSegment.Rent(_pool, _bufferSize, _end);
        }
        int received;
        SocketError error;
        try
        {
            received = _socket.Receive(target.FreeMemory.Span, SocketFlags.None, out error);
        }
        catch (ObjectDisposedException)
        {
            (received, error) = (0, SocketError.Success);
        }
        if (error == SocketError.Success && received > 0)
        {
            target.Commit(received);
            if (target != tail)
            {
                if (tail is null)
                {
                    _head = target;
                    _headIndex = 0;
                }
                else
                {
                    tail.NextSegment = target;
                }
                _tail = target;
            }
            _end += received;
            _examinedAll = false;
            return true;
        }
        if (target != tail)
        {
            target.Release();
        }
        switch (error)
        {
            case SocketError.WouldBlock:
                return false;
            case SocketError.Success:
                // 0 bytes: the peer closed its side (or the connection was shut down).
                _ended = true;
                return true;
            default:
                _error ??= ReadError(new SocketException((int)error));
                return true;
        }
    }

    /// <summary>Takes the outcome of a zero-byte receive; <c>true</c> when it says bytes (or the end) are there.</summary>
    private bool EndReceive(ConfiguredValueTaskAwaitable<int>.ConfiguredValueTaskAwaiter receive)
    {
        try
        {
            receive.GetResult();
            return true;
        }
        catch (SocketException e)
        {
            _error ??= ReadError(e);
        }
        catch (ObjectDisposedException)
        {
            _ended = true;
        }
        return false;
    }

    /// <summary>Under the lock: the waiting read is over (its token no longer needed).</summary>
    private void EndRead()
    {
        _awaiting = false;
        _readRegistration.Unregister();
        _readRegistration = default;
        _readToken = default;
    }

    private void CancelFromToken()
    {
        CancellationToken token;
        lock (this)
        {
            if (!_awaiting)
            {
                return;
            }
            token = _readToken;
            EndRead();
        }
        _read.SetException(new OperationCanceledException(token));
    }

    private ReadOnlySequence<byte> Buffered() =>
        _head is null ? ReadOnlySequence<byte>.Empty : new ReadOnlySequence<byte>(_head, _headIndex, _tail!, _tail!.Length);

    private static long OffsetOf(SequencePosition position, string name) =>
        position.GetObject() is DeviceSocketSegment segment
            ? segment.RunningIndex + position.GetInteger()
            : throw new ArgumentOutOfRangeException(name, "The position is not one of the buffer of the last read.");

    private void ThrowIfCompleted()
    {
        if (_completed)
        {
            throw new InvalidOperationException("Reading is not allowed after the reader was completed.");
        }
    }

    /// <summary>A lost connection is an <see cref="IOException"/> to the reader, as from a <see cref="NetworkStream"/>: the session ends quietly.</summary>
    private static IOException ReadError(SocketException e) =>
        new($"Unable to read data from the transport connection: {e.SocketErrorCode}.", e);
}
