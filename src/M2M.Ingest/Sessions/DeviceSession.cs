using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net;
using M2M.Ingest.Connections;
using M2M.Messaging;
using M2M.Storage.Entities;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;

namespace M2M.Ingest.Sessions;

/// <summary>
/// One device connection: the protocol-independent part of a session (lifecycle, loops, timers,
/// identification, records, settings, commands, bus). M2MP and ALIP derive from it and parse their
/// own bytes.
/// </summary>
/// <remarks>
/// One loop runs per connection: the read loop (input, in order). Other work (pushes from the bus,
/// the node timer's ticks, close requests) is posted as flags and drained on the thread pool only
/// while there is some (<c>DeviceSession.Work.cs</c>). A gate lets only one of the two touch the
/// session's state and the output at a time, so the session code is single-threaded. Pushes and
/// ticks never wait: they only set a flag.
/// </remarks>
internal abstract partial class DeviceSession : IRegisteredConnection
{
    // Answers are sent at the end of each input batch, or sooner once this many bytes wait.
    private const int OutputFlushThreshold = 16 * 1024;

    private readonly ConnectionContext _connection;
    private readonly SessionServices _services;
    private readonly CancellationTokenSource _closeCts = new();
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly IRecordPublisher _publisher;
    private readonly SessionScope _scope;
    private readonly long _connectedTick;
    private long _lastInputTick;
    private long _lastOutputTick;
    private long _messagesIn;
    private long _messagesOut;
    private long _bytesIn;
    private long _bytesOut;
    private string? _closeReason;
    private int _closeRequested;

    protected DeviceSession(ConnectionContext connection, SessionServices services, DeviceProtocol protocol)
    {
        _connection = connection;
        _services = services;
        Protocol = protocol;
        ProtocolTag = IngestMetrics.Protocol(protocol);
        ConnectionId = services.Node.NextConnectionId();
        RemoteAddress = connection.RemoteEndPoint switch
        {
            // Dual-mode listeners see IPv4 clients as ::ffff:a.b.c.d; show them as IPv4.
            IPEndPoint { Address.IsIPv4MappedToIPv6: true } ip => new IPEndPoint(ip.Address.MapToIPv4(), ip.Port).ToString(),
            { } endPoint => endPoint.ToString() ?? "unknown",
            null => "unknown",
        };
        ConnectedAt = services.Time.GetUtcNow();
        _connectedTick = Environment.TickCount64;
        _lastInputTick = _connectedTick;
        _lastOutputTick = _connectedTick;
        _publisher = services.Records.CreatePublisher();
        _scope = new SessionScope(this);
        Logger = services.LoggerFactory.CreateLogger(GetType());
    }

    public string ConnectionId { get; }

    public DeviceProtocol Protocol { get; }

    /// <summary>The protocol as the registry and the events name it (<see cref="DeviceProtocols"/>).</summary>
    protected string ProtocolName => Protocol == DeviceProtocol.M2mp ? DeviceProtocols.M2mp : DeviceProtocols.Alip;

    public string RemoteAddress { get; }

    public DateTimeOffset ConnectedAt { get; }

    protected KeyValuePair<string, object?> ProtocolTag { get; }

    protected IngestOptions Options => _services.Options;

    protected SessionServices Services => _services;

    protected ILogger Logger { get; }

    protected PipeWriter Output => _connection.Transport.Output;

    /// <summary>Cancelled when the session is closing.</summary>
    protected CancellationToken Closing => _closeCts.Token;

    protected bool IsClosing => _closeCts.IsCancellationRequested;

    public ConnectionInfo Snapshot() => new(
        ConnectionId,
        Protocol,
        RemoteAddress,
        ConnectedAt,
        _deviceId,
        _ident,
        _identifiedAt,
        ConnectedAt.AddMilliseconds(Volatile.Read(ref _lastInputTick) - _connectedTick),
        Interlocked.Read(ref _messagesIn),
        Interlocked.Read(ref _messagesOut),
        Interlocked.Read(ref _bytesIn),
        Interlocked.Read(ref _bytesOut),
        _publisher.Published);

    /// <summary>Runs the session of an admitted connection (its place is taken, see <see cref="SessionServices.TryAdmit"/>) until the connection ends. Never throws.</summary>
    public async Task RunAsync()
    {
        if (_services.Scheduler is { } scheduler)
        {
            // The session's threads: every await below comes back to them (SessionScheduler).
            await scheduler.SwitchTo();
        }
        if (!_services.Registry.AddReserved(this))
        {
            Logger.LogError("Connection id {ConnectionId} is already registered; closing", ConnectionId);
            _connection.Abort(new ConnectionAbortedException("Duplicate connection id."));
            return;
        }

        // A stopping server closes its sessions through the registry (ConnectionRegistry.CloseAll): no
        // shutdown registration per connection.
        IngestMetrics.Connections.Add(1, ProtocolTag);
        IAsyncDisposable? connectionSubscription = null;
        try
        {
            using (Logger.BeginScope(_scope))
            {
                Logger.LogDebug("Connection from {Remote}", RemoteAddress);
                connectionSubscription = await _services.Pushes.SubscribeConnectionAsync(this, Closing);
                await PublishEventAsync(Calls.DeviceConnected, null);
            }

            // The read loop runs outside the session's log scope and begins it for each piece of work,
            // so that an idle connection holds no scope (nor an execution context of its own carrying
            // it). It is written here rather than in a method of its own so that a connection holds one
            // state machine, and a small one: each batch is handled in HandleInputAsync (pooled).
            _services.Ticker.EnsureStarted();
            try
            {
                var input = _connection.Transport.Input;
                while (!IsClosing)
                {
                    ReadResult result;
                    try
                    {
                        // No token: closing cancels the pending read (CancelSession), so an idle read holds no registration.
                        result = await input.ReadAsync();
                        if (_services.Scheduler is { IsCurrent: false } sessionThreads)
                        {
                            // Kestrel's pipes resume a read on the transport's scheduler, not on the awaiting
                            // code's context: back to the session threads before the bytes are handled.
                            await sessionThreads.SwitchTo();
                        }
                    }
                    catch (OperationCanceledException)
                    {
                        break;
                    }
                    catch (Exception e) when (e is IOException or ConnectionResetException or ConnectionAbortedException)
                    {
                        Logger.LogDebug(e, "Connection lost");
                        break;
                    }
                    if (!await HandleInputAsync(input, result))
                    {
                        break;
                    }
                }
            }
            finally
            {
                CancelSession();
                await StopWorkAsync();
            }
        }
        catch (Exception e)
        {
            // Nothing escapes a session: the host and the other connections carry on.
            using (Logger.BeginScope(_scope))
            {
                Logger.LogError(e, "Session failed");
            }
        }
        finally
        {
            using var logScope = Logger.BeginScope(_scope);
            await UnsubscribeAsync(connectionSubscription);
            await UnsubscribeAsync(_deviceSubscription);
            _services.Registry.Remove(this);
            IngestMetrics.Connections.Add(-1, ProtocolTag);
            await EndAsync();
        }
    }

    /// <summary>Asks the session to close (any thread): ALIP devices get <c>QUIT &lt;reason&gt;</c> first.</summary>
    public void RequestClose(string reason)
    {
        if (Interlocked.Exchange(ref _closeRequested, 1) != 0)
        {
            return;
        }
        Interlocked.CompareExchange(ref _closeReason, reason, null);
        try
        {
            // The read loop waits without a cancellation registration of its own (an idle connection
            // would hold one): a deadline that cancels the session must end its read too.
            _closeCts.Token.UnsafeRegister(static s => ((DeviceSession)s!).CancelRead(), this);
            Post(SessionWork.Close);
            // The work drain says goodbye; if it cannot (e.g. blocked on a device that does not read), cut.
            _closeCts.CancelAfter(TimeSpan.FromSeconds(2));
        }
        catch (ObjectDisposedException)
        {
            // Already gone.
        }
    }

    /// <summary>Closes the session from its own loops (under the gate): says goodbye when the protocol has a way, then ends the loops.</summary>
    protected async ValueTask CloseAsync(string reason, bool goodbye = true)
    {
        Interlocked.Exchange(ref _closeRequested, 1);
        Interlocked.CompareExchange(ref _closeReason, reason, null);
        IngestMetrics.Disconnects.Add(1, ProtocolTag, new KeyValuePair<string, object?>("reason", reason));
        if (goodbye && !IsClosing)
        {
            try
            {
                WriteGoodbye(reason);
                await FlushOutputAsync();
            }
            catch (Exception e) when (e is InvalidOperationException or OperationCanceledException or IOException)
            {
                // The connection is going anyway.
            }
        }
        CancelSession();
    }

    /// <summary>Parses what the device sent; returns how far it consumed (the rest waits for more bytes).</summary>
    protected abstract ValueTask<SequencePosition> ProcessAsync(ReadOnlySequence<byte> buffer);

    /// <summary>Writes the protocol's goodbye, if it has one (ALIP <c>QUIT &lt;reason&gt;</c>).</summary>
    protected abstract void WriteGoodbye(string reason);

    /// <summary>Writes the server's ping (<c>03 N</c> / <c>A n</c>).</summary>
    protected abstract void WritePing(long n);

    /// <summary>Last work of an identified session once its loops are over (e.g. state kept in memory to write).</summary>
    protected virtual ValueTask OnEndAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;

    /// <summary>Counts a frame or line received.</summary>
    protected void CountIn()
    {
        Interlocked.Increment(ref _messagesIn);
        IngestMetrics.MessagesIn.Add(1, ProtocolTag);
    }

    /// <summary>Counts a frame or line written.</summary>
    protected void CountOut()
    {
        Interlocked.Increment(ref _messagesOut);
        IngestMetrics.MessagesOut.Add(1, ProtocolTag);
    }

    /// <summary>Counts and logs bad input that does not close the connection.</summary>
    protected void CountError(string kind)
    {
        IngestMetrics.ProtocolErrors.Add(1, ProtocolTag, new KeyValuePair<string, object?>("kind", kind));
        Logger.LogDebug("Refused input: {Kind}", kind);
    }

    /// <summary>Counts and logs a protocol violation, then closes the connection.</summary>
    protected async ValueTask FailAsync(string kind, string message)
    {
        IngestMetrics.ProtocolErrors.Add(1, ProtocolTag, new KeyValuePair<string, object?>("kind", kind));
        Logger.LogWarning("Protocol violation ({Kind}), closing: {Message}", kind, message);
        await CloseAsync("protocol error");
    }

    /// <summary>
    /// Sends the answers written so far once they are worth a write, so that a long batch of input
    /// does not pile its answers up in memory.
    /// </summary>
    protected ValueTask<bool> FlushIfLargeAsync() =>
        Output.UnflushedBytes >= OutputFlushThreshold ? FlushOutputAsync() : ValueTask.FromResult(true);

    /// <summary>
    /// Sends what was written to <see cref="Output"/>. A device that does not take its bytes within
    /// the write timeout (its send buffer is over <see cref="IngestOptions.MaxPendingOutboundBytes"/>)
    /// is disconnected. <c>false</c> when the connection is closing.
    /// </summary>
    protected async ValueTask<bool> FlushOutputAsync()
    {
        var unflushed = Output.UnflushedBytes;
        Interlocked.Add(ref _bytesOut, unflushed);
        Volatile.Write(ref _lastOutputTick, Environment.TickCount64);
        FlushResult result;
        try
        {
            var flush = Output.FlushAsync(CancellationToken.None);
            result = flush.IsCompletedSuccessfully ? flush.Result : await flush.AsTask().WaitAsync(Options.WriteTimeout, Closing);
        }
        catch (Exception e) when (e is IOException or ConnectionResetException or ConnectionAbortedException)
        {
            // The device is gone (a transport that writes straight to the socket reports it here).
            Logger.LogDebug(e, "Connection lost while writing");
            CancelSession();
            return false;
        }
        catch (TimeoutException)
        {
            IngestMetrics.ProtocolErrors.Add(1, ProtocolTag, new KeyValuePair<string, object?>("kind", "write_timeout"));
            Logger.LogWarning("The device does not read ({Pending} bytes pending for {Timeout}); closing", unflushed, Options.WriteTimeout);
            Interlocked.CompareExchange(ref _closeReason, "write timeout", null);
            _connection.Abort(new ConnectionAbortedException("The device does not read."));
            CancelSession();
            return false;
        }
        catch (OperationCanceledException)
        {
            _connection.Abort(new ConnectionAbortedException("Closing."));
            return false;
        }
        if (result.IsCompleted || result.IsCanceled)
        {
            CancelSession();
            return false;
        }
        return true;
    }

    /// <summary>Handles one read's bytes under the gate; <c>false</c> when the loop ends.</summary>
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> HandleInputAsync(PipeReader input, ReadResult result)
    {
        var buffer = result.Buffer;
        var consumed = buffer.Start;
        if (result.IsCanceled && IsClosing)
        {
            input.AdvanceTo(buffer.Start, buffer.End);
            return false;
        }
        if (!buffer.IsEmpty)
        {
            Volatile.Write(ref _lastInputTick, Environment.TickCount64);
        }

        try
        {
            await _gate.WaitAsync(Closing);
        }
        catch (OperationCanceledException)
        {
            input.AdvanceTo(buffer.Start, buffer.End);
            return false;
        }

        try
        {
            using var logScope = Logger.BeginScope(_scope);
            using var activity = IngestTelemetry.StartInput(ConnectionId, _deviceId, Protocol == DeviceProtocol.M2mp ? "m2mp" : "alip");
            consumed = await ProcessAsync(buffer);
        }
        catch (OperationCanceledException) when (IsClosing)
        {
            // Closing while a store call or the barrier was waiting.
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            await CloseOnErrorAsync(e, work: null);
        }
        finally
        {
            Interlocked.Add(ref _bytesIn, buffer.Slice(buffer.Start, consumed).Length);
            input.AdvanceTo(consumed, buffer.End);
            _gate.Release();
        }

        return !(result.IsCompleted || result.IsCanceled);
    }

    /// <summary>
    /// Closes after an unexpected failure: a full disk (the storage refused a registry write) is the
    /// storage's state, not a fault of the session — the device gets <c>storage full</c> and may come
    /// back later; anything else is an internal error.
    /// </summary>
    private async ValueTask CloseOnErrorAsync(Exception e, SessionWork? work)
    {
        if (M2M.Storage.StorageErrors.IsOutOfSpace(e))
        {
            Logger.LogWarning("The storage is full ({Reason}); closing", e.Message);
            IngestMetrics.ProtocolErrors.Add(1, ProtocolTag, new KeyValuePair<string, object?>("kind", "storage_full"));
            await CloseAsync("storage full");
            return;
        }
        if (work is null)
        {
            Logger.LogError(e, "Session error; closing");
        }
        else
        {
            Logger.LogError(e, "Session work {Work} failed; closing", work);
        }
        IngestMetrics.ProtocolErrors.Add(1, ProtocolTag, new KeyValuePair<string, object?>("kind", "internal"));
        await CloseAsync("internal error");
    }

    private long _pingCounter;

    private async ValueTask OnTickAsync()
    {
        var now = Environment.TickCount64;
        var o = Options;
        if (!IsIdentified && now - _connectedTick >= (long)o.IdentificationTimeout.TotalMilliseconds)
        {
            using var timeoutScope = Logger.BeginScope(_scope);
            IngestMetrics.ProtocolErrors.Add(1, ProtocolTag, new KeyValuePair<string, object?>("kind", "identification_timeout"));
            Logger.LogInformation("Not identified within {Timeout}; closing", o.IdentificationTimeout);
            await CloseAsync("identification timeout");
            return;
        }

        var silent = now - Volatile.Read(ref _lastInputTick);
        // ALIP closes a silent device; M2MP only pings it, unless its own idle limit is configured.
        var idle = Protocol == DeviceProtocol.M2mp ? o.M2mpIdleDisconnect : o.IdleDisconnect;
        if (idle > TimeSpan.Zero && silent >= (long)idle.TotalMilliseconds)
        {
            using var idleScope = Logger.BeginScope(_scope);
            Logger.LogInformation("Silent for {Idle}; closing", idle);
            await CloseAsync("idle timeout");
            return;
        }

        if (IsIdentified
            && silent >= (long)o.PingAfterIdle.TotalMilliseconds
            && now - Volatile.Read(ref _lastOutputTick) >= (long)o.PingMinSendGap.TotalMilliseconds)
        {
            using var pingScope = Logger.BeginScope(_scope);
            WritePing(++_pingCounter);
            CountOut();
            await FlushOutputAsync();
        }
    }

    private async ValueTask UnsubscribeAsync(IAsyncDisposable? subscription)
    {
        try
        {
            if (subscription is not null)
            {
                await subscription.DisposeAsync();
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The broker is unreachable: its side of the subscription ends with the bus connection.
            Logger.LogDebug(e, "Could not unsubscribe");
        }
    }

    private async ValueTask EndAsync()
    {
        try
        {
            var duration = _services.Time.GetUtcNow() - ConnectedAt;
            Logger.LogInformation("Disconnected after {Duration} ({Reason})", duration, _closeReason ?? "closed by the device");
            if (IsIdentified)
            {
                // The session's loops are over: the publisher is ours alone again.
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await OnEndAsync(timeout.Token);
                await _publisher.PublishAsync(ServerRecord(Calls.DeviceDisconnected, _services.Time.GetUtcNow(), duration), timeout.Token);
                await _publisher.FlushAsync(timeout.Token);
            }
            await PublishEventAsync(Calls.DeviceDisconnected, duration);
        }
        catch (Exception e)
        {
            Logger.LogWarning(e, "Could not record the disconnection");
        }
        finally
        {
            await _connection.Transport.Input.CompleteAsync();
            try
            {
                // A transport that writes straight to the socket sends what is left now: bounded like any write.
                await _connection.Transport.Output.CompleteAsync().AsTask().WaitAsync(Options.WriteTimeout);
            }
            catch (TimeoutException)
            {
                _connection.Abort(new ConnectionAbortedException("The device does not read."));
            }
            catch (Exception e) when (e is IOException or ConnectionResetException or ConnectionAbortedException)
            {
                // The device is gone.
            }
        }
    }

    /// <summary>The logging scope of a session: its connection id and, once known, its device.</summary>
    private sealed class SessionScope(DeviceSession session) : IReadOnlyList<KeyValuePair<string, object?>>
    {
        public int Count => 3;

        public KeyValuePair<string, object?> this[int index] => index switch
        {
            0 => new("ConnectionId", session.ConnectionId),
            1 => new("DeviceId", session._deviceId),
            2 => new("Protocol", session.Protocol),
            _ => throw new ArgumentOutOfRangeException(nameof(index)),
        };

        public IEnumerator<KeyValuePair<string, object?>> GetEnumerator()
        {
            for (var i = 0; i < Count; i++)
            {
                yield return this[i];
            }
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

        public override string ToString() => session._deviceId is { } id
            ? $"Connection {session.ConnectionId} device {id}"
            : $"Connection {session.ConnectionId}";
    }

    private static double ElapsedMs(long startTimestamp) => Stopwatch.GetElapsedTime(startTimestamp).TotalMilliseconds;
}
