using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Runtime.ExceptionServices;

namespace M2M.Ingest.Hosting;

/// <summary>
/// The output of a <see cref="DeviceSocketConnection"/>: a <see cref="PipeWriter"/> straight on the socket.
/// Written bytes wait in blocks from the pool until the caller flushes; the flush sends them with
/// non-blocking sends and gives the blocks back, so an idle connection holds none and an answer costs no
/// asynchronous round trip. Only what the kernel does not take at once (the device does not read) is sent
/// by an asynchronous send, which the flush waits for.
/// </summary>
/// <remarks>
/// <para>A connection that never had a full send buffer never creates the socket's cached send operation
/// (~0.3 KiB kept for the connection's life). A flush that waits takes the bytes with it: writes made
/// meanwhile (after a cancelled flush) go to new blocks and are sent by the next flush once the waited
/// send is over. <see cref="CancelPendingFlush"/> and the caller's token end the wait, not the send.</para>
/// <para>A connection that is gone (reset, shut down by <see cref="DeviceSocketConnection.Abort"/>) makes
/// the flush return <see cref="FlushResult.IsCompleted"/>, its bytes dropped, as Kestrel's socket transport
/// does; any other socket error is an <see cref="IOException"/>.</para>
/// </remarks>
internal sealed class DeviceSocketWriter : PipeWriter
{
    private readonly Socket _socket;
    private readonly MemoryPool<byte> _pool;
    private readonly int _bufferSize;
    private readonly bool _resumeOnThreadPool;

    // The bytes written and not sent yet: from _headIndex of _head to the end of _tail (null when none).
    private DeviceSocketSegment? _head;
    private DeviceSocketSegment? _tail;
    private int _headIndex;
    private long _unflushed;
    private bool _completed;

    // Shared with a waited send (under the lock): whether one runs, the flush waiting for it, a cancellation
    // for the next flush, and how the connection ended.
    private bool _sending;
    private TaskCompletionSource<FlushResult>? _flushWaiter;
    private bool _cancelRequested;
    private bool _gone;
    private Exception? _error;

    /// <param name="socket">A connected socket, non-blocking (<see cref="Socket.Blocking"/> off).</param>
    /// <param name="pool">Where the write buffers come from.</param>
    /// <param name="bufferSize">The size of a write buffer (at most the pool's block size; a larger write takes a larger array).</param>
    /// <param name="resumeOnThreadPool">A flush that waited resumes its caller on the thread pool, not in the socket's event processing (see <see cref="DeviceSocketReader"/>).</param>
    public DeviceSocketWriter(Socket socket, MemoryPool<byte> pool, int bufferSize, bool resumeOnThreadPool = true)
    {
        _socket = socket;
        _pool = pool;
        _bufferSize = Math.Min(bufferSize, pool.MaxBufferSize);
        _resumeOnThreadPool = resumeOnThreadPool;
    }

    public override bool CanGetUnflushedBytes => true;

    public override long UnflushedBytes => _unflushed;

    public override Memory<byte> GetMemory(int sizeHint = 0)
    {
        ThrowIfCompleted();
        ArgumentOutOfRangeException.ThrowIfNegative(sizeHint);
        var tail = _tail;
        if (tail is null || tail.Free < Math.Max(sizeHint, 1))
        {
            var segment = DeviceSocketSegment.Rent(_pool, Math.Max(sizeHint, _bufferSize), 0);
            if (tail is null)
            {
                _head = segment;
                _headIndex = 0;
            }
            else
            {
                tail.NextSegment = segment;
            }
            _tail = tail = segment;
        }
        return tail.FreeMemory;
    }

    public override Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

    public override void Advance(int bytes)
    {
        ThrowIfCompleted();
        if (bytes < 0 || bytes > (_tail?.Free ?? 0))
        {
            throw new ArgumentOutOfRangeException(nameof(bytes), "Advance goes past the memory of the last GetMemory or GetSpan.");
        }
        _tail?.Commit(bytes);
        _unflushed += bytes;
    }

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfCompleted();
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<FlushResult>(cancellationToken);
        }
        bool waitFirst;
        lock (this)
        {
            waitFirst = _sending || _flushWaiter is not null || _cancelRequested;
        }
        if (!waitFirst)
        {
            try
            {
                if (SendOrStart() is { } sent)
                {
                    return new ValueTask<FlushResult>(sent);
                }
            }
            catch (IOException e)
            {
                return ValueTask.FromException<FlushResult>(e);
            }
        }
        return FlushSlowAsync(cancellationToken);
    }

    /// <summary>The pending flush returns now with <see cref="FlushResult.IsCanceled"/> (its send goes on), or the next one does if none waits.</summary>
    public override void CancelPendingFlush()
    {
        TaskCompletionSource<FlushResult>? waiter;
        lock (this)
        {
            waiter = _flushWaiter;
            _flushWaiter = null;
            if (waiter is null)
            {
                _cancelRequested = true;
            }
        }
        waiter?.TrySetResult(new FlushResult(isCanceled: true, isCompleted: false));
    }

    /// <summary>
    /// Ends the writer. Bytes written and not flushed are sent as far as the kernel takes them without
    /// waiting (a completed writer cannot wait), unless <paramref name="exception"/> says the output failed;
    /// <see cref="CompleteAsync"/> sends them all.
    /// </summary>
    public override void Complete(Exception? exception = null)
    {
        if (_completed)
        {
            return;
        }
        _completed = true;
        bool sending;
        lock (this)
        {
            sending = _sending;
        }
        if (exception is null && !sending && !_gone && _error is null && _head is not null)
        {
            SendBuffered();
        }
        ReleaseBuffered();
    }

    /// <summary>Sends what is left (unless <paramref name="exception"/> says the output failed, or a flush still waits for the device) and ends the writer.</summary>
    public override async ValueTask CompleteAsync(Exception? exception = null)
    {
        if (_completed)
        {
            return;
        }
        bool flushPending;
        lock (this)
        {
            flushPending = _flushWaiter is not null;
        }
        try
        {
            if (exception is null && !flushPending)
            {
                await FlushAsync(CancellationToken.None).ConfigureAwait(false);
            }
        }
        finally
        {
            Complete(exception);
        }
    }

    /// <summary>
    /// Sends the buffered bytes without waiting (no waited send running). The result when that is the end
    /// of the flush (all sent, or the connection gone); <c>null</c> when the kernel took only part of them:
    /// the rest is being sent by a waited send.
    /// </summary>
    private FlushResult? SendOrStart()
    {
        if (_gone)
        {
            ReleaseBuffered();
            return new FlushResult(isCanceled: false, isCompleted: true);
        }
        if (_error is not null)
        {
            ReleaseBuffered();
            ExceptionDispatchInfo.Throw(_error);
        }
        var error = SendBuffered();
        if (error == SocketError.Success)
        {
            return new FlushResult(isCanceled: false, isCompleted: false);
        }
        if (error == SocketError.WouldBlock)
        {
            // The waited send takes the rest with it; new writes go to new blocks.
            var head = _head!;
            var index = _headIndex;
            _head = null;
            _tail = null;
            _headIndex = 0;
            _unflushed = 0;
            lock (this)
            {
                _sending = true;
            }
            _ = SendRestAsync(head, index);
            return null;
        }
        ReleaseBuffered();
        if (IsGone(error))
        {
            _gone = true;
            return new FlushResult(isCanceled: false, isCompleted: true);
        }
        var failure = WriteError(new SocketException((int)error));
        _error = failure;
        throw failure;
    }

    /// <summary>Sends buffered bytes until all are sent (<see cref="SocketError.Success"/>), the kernel takes no more, or an error; gives sent blocks back.</summary>
    private SocketError SendBuffered()
    {
        while (_head is { } head)
        {
            if (_headIndex < head.Length)
            {
                int sent;
                SocketError error;
                try
                {
                    sent = _socket.Send(head.Memory.Span[_headIndex..], SocketFlags.None, out error);
                }
                catch (ObjectDisposedException)
                {
                    return SocketError.Shutdown;
                }
                if (error != SocketError.Success)
                {
                    return error;
                }
                _headIndex += sent;
                _unflushed -= sent;
                if (_headIndex < head.Length)
                {
                    continue;
                }
            }
            _head = head.NextSegment;
            _headIndex = 0;
            if (_head is null)
            {
                _tail = null;
            }
            head.Release();
        }
        _unflushed = 0;
        return SocketError.Success;
    }

    /// <summary>Sends what the kernel did not take at once, waiting as long as the device needs (the caller bounds its wait), then ends the flush waiting for it.</summary>
    private async Task SendRestAsync(DeviceSocketSegment head, int index)
    {
        var gone = false;
        Exception? error = null;
        try
        {
            for (var segment = head; segment is not null; segment = segment.NextSegment, index = 0)
            {
                while (index < segment.Length)
                {
                    index += await _socket.SendAsync(segment.Memory[index..], SocketFlags.None).ConfigureAwait(false);
                }
            }
        }
        catch (SocketException e) when (IsGone(e.SocketErrorCode))
        {
            gone = true;
        }
        catch (ObjectDisposedException)
        {
            gone = true;
        }
        catch (SocketException e)
        {
            error = WriteError(e);
        }
        finally
        {
            DeviceSocketSegment.ReleaseChain(head);
        }
        TaskCompletionSource<FlushResult>? waiter;
        lock (this)
        {
            _sending = false;
            _gone |= gone;
            _error ??= error;
            waiter = _flushWaiter;
            _flushWaiter = null;
        }
        if (error is not null)
        {
            waiter?.TrySetException(error);
        }
        else
        {
            waiter?.TrySetResult(new FlushResult(isCanceled: false, isCompleted: gone));
        }
    }

    /// <summary>A flush that waits: for a waited send (its own or an earlier one's), then sends what was written meanwhile.</summary>
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<FlushResult> FlushSlowAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            TaskCompletionSource<FlushResult>? waiter = null;
            lock (this)
            {
                if (_flushWaiter is not null)
                {
                    throw new InvalidOperationException("A flush is already pending on this connection.");
                }
                if (_cancelRequested)
                {
                    _cancelRequested = false;
                    return new FlushResult(isCanceled: true, isCompleted: false);
                }
                if (_sending)
                {
                    // Resumed by the send's end on the thread pool, not in the socket's event processing.
                    waiter = _flushWaiter = new TaskCompletionSource<FlushResult>(
                        _resumeOnThreadPool ? TaskCreationOptions.RunContinuationsAsynchronously : TaskCreationOptions.None);
                }
            }
            if (waiter is null)
            {
                if (SendOrStart() is { } sent)
                {
                    return sent;
                }
                continue;
            }
            FlushResult result;
            try
            {
                using (cancellationToken.UnsafeRegister(static (w, token) => ((TaskCompletionSource<FlushResult>)w!).TrySetCanceled(token), waiter))
                {
                    result = await waiter.Task.ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException)
            {
                lock (this)
                {
                    if (_flushWaiter == waiter)
                    {
                        _flushWaiter = null;
                    }
                }
                throw;
            }
            if (result.IsCanceled || result.IsCompleted || _head is null)
            {
                return result;
            }
        }
    }

    private void ReleaseBuffered()
    {
        var head = _head;
        _head = null;
        _tail = null;
        _headIndex = 0;
        _unflushed = 0;
        DeviceSocketSegment.ReleaseChain(head);
    }

    private void ThrowIfCompleted()
    {
        if (_completed)
        {
            throw new InvalidOperationException("Writing is not allowed after the writer was completed.");
        }
    }

    /// <summary>Errors that say the connection is over (the device reset it, it was shut down or aborted).</summary>
    private static bool IsGone(SocketError error) => error is SocketError.ConnectionReset or SocketError.ConnectionAborted
        or SocketError.Shutdown or SocketError.NotConnected or SocketError.OperationAborted or SocketError.NetworkReset
        or SocketError.TimedOut or SocketError.HostUnreachable or SocketError.NetworkUnreachable or SocketError.NetworkDown
        or SocketError.HostDown;

    private static IOException WriteError(SocketException e) =>
        new($"Unable to write data to the transport connection: {e.SocketErrorCode}.", e);
}
