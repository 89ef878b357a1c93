using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace M2M.Load.Simulation;

/// <summary>
/// One simulated device: connects, identifies, sends records with a delivery barrier every K
/// records, keeps what no barrier has covered yet, answers the server, and reconnects with back-off
/// (resending what was not acknowledged, with the same record times).
/// </summary>
/// <remarks>
/// Two tasks per connection: the sender (records and barriers) and the reader (answers, pushes).
/// Both write under the session's send lock. Records of a batch are encoded into one reused buffer
/// and written with one send; the reader waits on a zero-byte receive and borrows a buffer only
/// while bytes are pending, so an idle connection holds no buffer.
/// </remarks>
public abstract class SimulatedDevice
{
    private const int SendBufferSize = 16 * 1024;
    private static int s_sourceIndex;

    private readonly object _gate = new();
    private readonly Queue<DeviceRecord> _unacked = new();
    private readonly List<DeviceRecord>? _ackedLog;
    private readonly long[] _lastTime = new long[2];
    private readonly Random _random;
    private byte[]? _sendBuffer;
    private long _nextSequence = 1;
    private int _sinceBarrier;
    private float _lat;
    private float _lon;
    private float _temperature;
    private Session? _session;
    private readonly TaskCompletionSource<bool> _firstAttempt = new(TaskCreationOptions.RunContinuationsAsynchronously);

    protected SimulatedDevice(string ident, int index, DevicePlan plan)
    {
        Ident = ident;
        Index = index;
        Plan = plan;
        _random = new Random(index * 7919 + 17);
        _lat = 48.85f + (float)(_random.NextDouble() - 0.5);
        _lon = 2.35f + (float)(_random.NextDouble() - 0.5);
        _temperature = 15 + (float)(_random.NextDouble() * 10);
        _ackedLog = plan.KeepAckedRecords ? [] : null;
        Settings["period"] = ((int)plan.Period.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture);
        Settings["barrier_every"] = plan.BarrierEvery.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    public string Ident { get; }

    /// <summary>What the device sends to identify (<see cref="DevicePlan.Login"/>).</summary>
    protected string Login => field ??= Plan.Login(Ident);

    public int Index { get; }

    protected DevicePlan Plan { get; }

    /// <summary>The device's own setting values (changed by the server's settings, reported on request).</summary>
    public Dictionary<string, string> Settings { get; } = new(StringComparer.Ordinal);

    /// <summary>The device's status values reported when the server asks (<c>cap</c>, <c>version</c>).</summary>
    public Dictionary<string, string> Status { get; } = new(StringComparer.Ordinal)
    {
        ["cap"] = "loc,temp,set,cmd",
        ["version"] = "m2m-load/1",
    };

    /// <summary>Command ids (M2MP) or numbers (ALIP) this device acknowledged, in order.</summary>
    public List<string> AcknowledgedCommands { get; } = [];

    /// <summary>Records sent and not covered by an answered barrier yet.</summary>
    public int UnackedCount
    {
        get { lock (_gate) { return _unacked.Count; } }
    }

    /// <summary>Every record a barrier covered (only with <see cref="DevicePlan.KeepAckedRecords"/>).</summary>
    public IReadOnlyList<DeviceRecord> AckedRecords
    {
        get { lock (_gate) { return _ackedLog?.ToArray() ?? []; } }
    }

    /// <summary>Records generated so far.</summary>
    public long Generated => Interlocked.Read(ref _nextSequence) - 1;

    /// <summary>Completes with <c>true</c> at the first identification, <c>false</c> when the first attempt fails.</summary>
    public Task<bool> FirstAttempt => _firstAttempt.Task;

    /// <summary>Identified connections this device has had.</summary>
    public int Sessions { get; private set; }

    /// <summary>Whether the device is connected and identified now.</summary>
    public bool IsIdentified => _session is { IsIdentified: true, Ended: false };

    /// <summary>Completes when the device is identified (again) after the call.</summary>
    public Task WaitIdentifiedAsync(CancellationToken cancellationToken = default)
    {
        return Loop();

        async Task Loop()
        {
            while (!IsIdentified)
            {
                await Task.Delay(10, cancellationToken);
            }
        }
    }

    /// <summary>Closes the current connection abruptly, as a network failure would; the device reconnects.</summary>
    public void ForceDisconnect() => _session?.Abort();

    protected abstract IPEndPoint EndPoint { get; }

    protected abstract int WriteIdent(Span<byte> destination);

    /// <summary>Frames or lines to send right after identification (M2MP channel definitions).</summary>
    protected virtual int WriteSessionStart(Session session, Span<byte> destination) => 0;

    /// <summary>Upper bound of the bytes <see cref="WriteRecord"/> writes for <paramref name="record"/>.</summary>
    protected abstract int MaxRecordBytes(in DeviceRecord record);

    protected abstract int WriteRecord(Session session, Span<byte> destination, in DeviceRecord record);

    protected abstract int WriteBarrier(Span<byte> destination, long token);

    /// <summary>
    /// Handles one server message at the start of <paramref name="buffer"/>; <c>false</c> = incomplete.
    /// Acknowledgements are applied at once; answers go to <see cref="Session.Replies"/>.
    /// </summary>
    protected abstract bool TryProcess(Session session, ReadOnlySpan<byte> buffer, out int consumed);

    /// <summary>Runs until <paramref name="stop"/>, reconnecting as needed; then drains and disconnects.</summary>
    public async Task RunAsync(CancellationToken stop)
    {
        var backoff = Plan.ReconnectMin;
        while (!stop.IsCancellationRequested)
        {
            var identified = false;
            try
            {
                identified = await RunSessionAsync(stop);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                break;
            }
            finally
            {
                _firstAttempt.TrySetResult(identified);
            }
            if (stop.IsCancellationRequested)
            {
                break;
            }
            if (identified)
            {
                backoff = Plan.ReconnectMin;
            }
            var delay = backoff * (0.8 + 0.4 * NextDouble());
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, Plan.ReconnectMax.Ticks));
            try
            {
                await Task.Delay(delay, stop);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        _firstAttempt.TrySetResult(false);
    }

    /// <summary>One connection, from connect to close. <c>true</c> when it was identified.</summary>
    private async Task<bool> RunSessionAsync(CancellationToken stop)
    {
        var counters = Plan.Counters;
        counters.ConnectAttempt();
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            BindSource(socket);
            using (var connectTimeout = CancellationTokenSource.CreateLinkedTokenSource(stop))
            {
                connectTimeout.CancelAfter(Plan.ConnectTimeout);
                try
                {
                    await socket.ConnectAsync(EndPoint, connectTimeout.Token);
                }
                catch (OperationCanceledException) when (!stop.IsCancellationRequested)
                {
                    counters.ConnectFailed($"connect to {EndPoint} timed out after {Plan.ConnectTimeout.TotalSeconds:0.#} s");
                    return false;
                }
            }
        }
        catch (SocketException e)
        {
            counters.ConnectFailed($"connect to {EndPoint}: {e.SocketErrorCode} ({e.Message})");
            socket.Dispose();
            return false;
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        counters.ConnectionEstablished();
        var session = new Session(socket, Plan.Window);
        _session = session;
        var reader = ReadLoopAsync(session);
        var identified = false;
        try
        {
            if (!await IdentifyAsync(session, stop))
            {
                return false;
            }
            identified = true;
            Sessions++;
            counters.IdentifiedNow();
            _firstAttempt.TrySetResult(true);
            try
            {
                await StartSessionAsync(session, stop);
                await SendLoopAsync(session, stop);
            }
            catch (OperationCanceledException) when (session.Ended || stop.IsCancellationRequested)
            {
            }
            catch (SocketException) when (session.Ended || stop.IsCancellationRequested)
            {
            }
            catch (SocketException e)
            {
                session.Abort();
                counters.ProtocolError($"send: {e.SocketErrorCode}");
            }
            catch (ObjectDisposedException)
            {
            }

            if (stop.IsCancellationRequested && !session.Ended)
            {
                await DrainAsync(session);
            }
            else if (!stop.IsCancellationRequested)
            {
                counters.Disconnected();
            }
            return true;
        }
        finally
        {
            if (identified)
            {
                counters.IdentificationEnded();
            }
            session.Abort();
            await reader;
            session.Dispose();
        }
    }

    private void BindSource(Socket socket)
    {
        var sources = Plan.SourceAddresses;
        if (sources.Count == 0)
        {
            return;
        }
        if (OperatingSystem.IsLinux())
        {
            // IP_BIND_ADDRESS_NO_PORT: pick the port at connect time, per (source, destination), not at bind.
            const int SolIp = 0;
            const int IpBindAddressNoPort = 24;
            try
            {
                socket.SetRawSocketOption(SolIp, IpBindAddressNoPort, BitConverter.GetBytes(1));
            }
            catch (SocketException)
            {
            }
        }
        var source = sources[(int)((uint)Interlocked.Increment(ref s_sourceIndex) % (uint)sources.Count)];
        socket.Bind(new IPEndPoint(source, 0));
    }

    private async Task<bool> IdentifyAsync(Session session, CancellationToken stop)
    {
        var counters = Plan.Counters;
        var buffer = ArrayPool<byte>.Shared.Rent(512);
        try
        {
            var n = WriteIdent(buffer);
            await session.SendAsync(buffer.AsMemory(0, n), stop);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stop, session.Token);
        timeout.CancelAfter(Plan.IdentTimeout);
        try
        {
            var accepted = await session.Identification.Task.WaitAsync(timeout.Token);
            if (!accepted)
            {
                session.StartSent.TrySetResult();
                counters.Refused($"{Ident}: identification refused{(session.ErrorText is { } e ? $" ({e})" : "")}");
            }
            return accepted;
        }
        catch (OperationCanceledException) when (!stop.IsCancellationRequested)
        {
            if (session.Ended)
            {
                counters.ProtocolError($"{Ident}: connection closed before the identification answer{(session.ErrorText is { } e ? $" ({e})" : "")}");
            }
            else
            {
                counters.ProtocolError($"{Ident}: no identification answer within {Plan.IdentTimeout.TotalSeconds:0.#} s");
            }
            return false;
        }
    }

    /// <summary>Right after identification: session frames, then every record still unacknowledged, then a barrier.</summary>
    private async Task StartSessionAsync(Session session, CancellationToken stop)
    {
        DeviceRecord[] resend;
        lock (_gate)
        {
            resend = _unacked.Count == 0 ? [] : _unacked.ToArray();
            _sinceBarrier = 0;
        }

        await session.SendLock.WaitAsync(stop);
        try
        {
            var buffer = _sendBuffer ??= new byte[SendBufferSize];
            var pos = WriteSessionStart(session, buffer);
            foreach (var record in resend)
            {
                if (pos + MaxRecordBytes(record) + 64 > buffer.Length)
                {
                    await session.SendAsync(buffer.AsMemory(0, pos), stop);
                    pos = 0;
                }
                pos += WriteRecord(session, buffer.AsSpan(pos), record);
            }
            if (resend.Length > 0)
            {
                Plan.Counters.Resent(resend.Length);
                pos += AppendBarrier(session, buffer.AsSpan(pos), resend[^1].Sequence);
            }
            if (pos > 0)
            {
                await session.SendAsync(buffer.AsMemory(0, pos), stop);
            }
            if (resend.Length > 0)
            {
                session.Sent(resend[^1].Sequence);
            }
        }
        finally
        {
            session.SendLock.Release();
            session.StartSent.TrySetResult();
        }
    }

    private Task SendLoopAsync(Session session, CancellationToken stop) => Plan.Mode switch
    {
        DeviceMode.Periodic => PeriodicLoopAsync(session, stop),
        DeviceMode.Flat => FlatLoopAsync(session, stop),
        DeviceMode.Replay => ReplayLoopAsync(session, stop),
        _ => IdleLoopAsync(session, stop),
    };

    private static async Task IdleLoopAsync(Session session, CancellationToken stop)
    {
        using var both = CancellationTokenSource.CreateLinkedTokenSource(stop, session.Token);
        await Task.Delay(Timeout.Infinite, both.Token);
    }

    private async Task PeriodicLoopAsync(Session session, CancellationToken stop)
    {
        using var both = CancellationTokenSource.CreateLinkedTokenSource(stop, session.Token);
        while (true)
        {
            var delay = Plan.Period * (1 + Plan.Jitter * (2 * NextDouble() - 1));
            await Task.Delay(delay, both.Token);
            await SendNewRecordsAsync(session, 2, forceBarrier: false, both.Token);
        }
    }

    private async Task FlatLoopAsync(Session session, CancellationToken stop)
    {
        using var both = CancellationTokenSource.CreateLinkedTokenSource(stop, session.Token);
        var k = Plan.BarrierEvery;
        var interval = Plan.RatePerDevice > 0 ? TimeSpan.FromSeconds(k / Plan.RatePerDevice) : TimeSpan.Zero;
        var started = Stopwatch.GetTimestamp();
        // Devices start at random phases so that paced batches do not arrive together.
        var offset = interval * NextDouble();
        long batch = 0;
        while (true)
        {
            if (interval > TimeSpan.Zero)
            {
                var due = offset + interval * batch;
                var wait = due - Stopwatch.GetElapsedTime(started);
                if (wait > TimeSpan.FromMilliseconds(1))
                {
                    await Task.Delay(wait, both.Token);
                }
                else if (wait < -interval * Plan.Window)
                {
                    // Far behind (the server is slower than the target): do not burst to catch up.
                    offset -= wait;
                }
            }
            await session.Window.WaitAsync(both.Token);
            var n = k - _sinceBarrier;
            await SendNewRecordsAsync(session, n, forceBarrier: true, both.Token);
            batch++;
        }
    }

    private async Task ReplayLoopAsync(Session session, CancellationToken stop)
    {
        var replay = Plan.Replay!;
        using var both = CancellationTokenSource.CreateLinkedTokenSource(stop, session.Token);
        for (var round = 0; ; round++)
        {
            for (var i = session.ReplayPosition; i < replay.Lines.Count; i++)
            {
                var at = replay.ShiftedTime(i, Plan.ReplayStart, round);
                var wait = at - DateTimeOffset.UtcNow;
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, both.Token);
                }
                var line = replay.Lines[i];
                var record = NewRecord(RecordKind.Replay, (uint)at.ToUnixTimeSeconds(), line);
                await SendRecordsAsync(session, [record], forceBarrier: i == replay.Lines.Count - 1, both.Token);
                session.ReplayPosition = i + 1;
            }
            session.ReplayPosition = 0;
            if (!Plan.ReplayLoop)
            {
                await Task.Delay(Timeout.Infinite, both.Token);
            }
        }
    }

    private async Task SendNewRecordsAsync(Session session, int count, bool forceBarrier, CancellationToken cancellationToken)
    {
        await session.SendLock.WaitAsync(cancellationToken);
        try
        {
            var buffer = _sendBuffer ??= new byte[SendBufferSize];
            var pos = 0;
            var last = 0L;
            for (var i = 0; i < count; i++)
            {
                var record = NextGenerated();
                if (pos + MaxRecordBytes(record) + 32 > buffer.Length)
                {
                    await session.SendAsync(buffer.AsMemory(0, pos), cancellationToken);
                    session.Sent(last);
                    pos = 0;
                }
                pos += WriteRecord(session, buffer.AsSpan(pos), record);
                pos += AfterRecord(session, buffer.AsSpan(pos), record, forceBarrier && i == count - 1);
                last = record.Sequence;
            }
            Plan.Counters.Sent(count);
            await session.SendAsync(buffer.AsMemory(0, pos), cancellationToken);
            session.Sent(last);
        }
        finally
        {
            session.SendLock.Release();
        }
    }

    private async Task SendRecordsAsync(Session session, DeviceRecord[] records, bool forceBarrier, CancellationToken cancellationToken)
    {
        await session.SendLock.WaitAsync(cancellationToken);
        try
        {
            var buffer = _sendBuffer ??= new byte[SendBufferSize];
            var pos = 0;
            var last = 0L;
            for (var i = 0; i < records.Length; i++)
            {
                var record = records[i];
                if (pos + MaxRecordBytes(record) + 32 > buffer.Length)
                {
                    await session.SendAsync(buffer.AsMemory(0, pos), cancellationToken);
                    session.Sent(last);
                    pos = 0;
                }
                pos += WriteRecord(session, buffer.AsSpan(pos), record);
                pos += AfterRecord(session, buffer.AsSpan(pos), record, forceBarrier && i == records.Length - 1);
                last = record.Sequence;
            }
            Plan.Counters.Sent(records.Length);
            await session.SendAsync(buffer.AsMemory(0, pos), cancellationToken);
            session.Sent(last);
        }
        finally
        {
            session.SendLock.Release();
        }
    }

    /// <summary>A barrier after every K records (or when asked).</summary>
    private int AfterRecord(Session session, Span<byte> destination, in DeviceRecord record, bool force)
    {
        if (++_sinceBarrier < Plan.BarrierEvery && !force)
        {
            return 0;
        }
        // Only the flat loop takes a window slot before its batch: its barrier gives it back.
        return AppendBarrier(session, destination, record.Sequence, windowed: force && Plan.Mode == DeviceMode.Flat);
    }

    private int AppendBarrier(Session session, Span<byte> destination, long lastSequence, bool windowed = false)
    {
        _sinceBarrier = 0;
        var token = session.NextToken++;
        lock (_gate)
        {
            session.Barriers.Enqueue(new Barrier(token, lastSequence, Stopwatch.GetTimestamp(), windowed));
        }
        Plan.Counters.BarrierSent();
        return WriteBarrier(destination, token);
    }

    /// <summary>At the end of a run: a last barrier for records not covered yet, then wait for the answers.</summary>
    private async Task DrainAsync(Session session)
    {
        using var timeout = new CancellationTokenSource(Plan.DrainTimeout);
        try
        {
            // Only what this session sent: a record generated but never sent (its send was cancelled by
            // the stop) must stay unacknowledged, not be claimed by the last barrier.
            long last;
            lock (_gate)
            {
                last = _unacked.TryPeek(out var oldest) && oldest.Sequence <= session.LastSent ? session.LastSent : 0;
            }
            if (last > 0 && _sinceBarrier > 0)
            {
                await session.SendLock.WaitAsync(timeout.Token);
                try
                {
                    var buffer = _sendBuffer ??= new byte[SendBufferSize];
                    var n = AppendBarrier(session, buffer, last);
                    await session.SendAsync(buffer.AsMemory(0, n), timeout.Token);
                }
                finally
                {
                    session.SendLock.Release();
                }
            }
            while (!session.Ended && session.PendingBarriers > 0)
            {
                await Task.Delay(5, timeout.Token);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    private DeviceRecord NextGenerated()
    {
        var kind = (Generated & 1) == 0 ? RecordKind.Location : RecordKind.Temperature;
        var flat = Plan.Mode == DeviceMode.Flat;
        var now = flat ? Plan.HistoryStart : DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var time = Math.Max(_lastTime[(int)kind] + (flat ? Plan.SpacingSeconds : 1), now);
        _lastTime[(int)kind] = time;
        if (kind == RecordKind.Location)
        {
            _lat += (float)((NextDouble() - 0.5) * 0.001);
            _lon += (float)((NextDouble() - 0.5) * 0.001);
        }
        else
        {
            _temperature = Math.Clamp(_temperature + (float)((NextDouble() - 0.5) * 0.4), -20, 45);
        }
        return NewRecord(kind, (uint)time, null);
    }

    private DeviceRecord NewRecord(RecordKind kind, uint time, ReplayLine? line)
    {
        DeviceRecord record;
        lock (_gate)
        {
            record = new DeviceRecord(_nextSequence++, time, kind, _lat, _lon, (ushort)_random.Next(0, 120), 35, MathF.Round(_temperature, 1), line);
            _unacked.Enqueue(record);
            if (_unacked.Count > Plan.MaxUnacked)
            {
                // A device with a full buffer loses its oldest measurement, as real trackers do.
                _unacked.Dequeue();
                Plan.Counters.Dropped(1);
            }
        }
        return record;
    }

    /// <summary>
    /// A barrier was answered: it and every earlier barrier of the session are done; the records they
    /// cover leave the unacknowledged buffer. A sent token matches when its bits under <paramref name="mask"/>
    /// equal <paramref name="token"/> (M2MP answers carry one byte). <c>false</c> when no barrier in flight matches (a protocol error).
    /// </summary>
    protected bool Acknowledge(Session session, long token, long mask)
    {
        var now = Stopwatch.GetTimestamp();
        var released = 0;
        var acked = 0;
        Barrier done = default;
        var found = false;
        Span<long> latencies = stackalloc long[8];
        var latencyCount = 0;
        lock (_gate)
        {
            foreach (var b in session.Barriers)
            {
                if ((b.Token & mask) == token)
                {
                    found = true;
                    break;
                }
            }
            if (!found)
            {
                return false;
            }
            while (session.Barriers.TryDequeue(out var b))
            {
                if (b.Windowed)
                {
                    released++;
                }
                if (latencyCount < latencies.Length)
                {
                    latencies[latencyCount++] = (now - b.SentTimestamp) * 1_000_000 / Stopwatch.Frequency;
                }
                if ((b.Token & mask) == token)
                {
                    done = b;
                    break;
                }
            }
            while (_unacked.TryPeek(out var r) && r.Sequence <= done.LastSequence)
            {
                _unacked.Dequeue();
                _ackedLog?.Add(r);
                acked++;
            }
        }
        for (var i = 0; i < latencyCount; i++)
        {
            Plan.Counters.BarrierAcked(i == latencyCount - 1 ? acked : 0, latencies[i]);
        }
        session.ReleaseWindow(released);
        return true;
    }

    /// <summary>Reads server messages until the connection closes; counts protocol errors.</summary>
    private async Task ReadLoopAsync(Session session)
    {
        byte[]? buffer = null;
        int start = 0, end = 0;
        var socket = session.Socket;
        try
        {
            while (true)
            {
                if (start == end)
                {
                    start = end = 0;
                    if (buffer is not null)
                    {
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = null;
                    }
                    // Wait for bytes without holding a buffer (idle connections stay small).
                    await socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, session.Token);
                    buffer = ArrayPool<byte>.Shared.Rent(4096);
                }
                else if (end == buffer!.Length)
                {
                    var size = end - start;
                    if (size > M2M.Load.Protocol.M2mpClient.MaxFrameSize + 8)
                    {
                        M2M.Load.Protocol.ClientProtocolException.Throw("server message larger than 1 MiB");
                    }
                    var target = size * 2 > buffer.Length ? ArrayPool<byte>.Shared.Rent(buffer.Length * 2) : buffer;
                    Buffer.BlockCopy(buffer, start, target, 0, size);
                    if (!ReferenceEquals(target, buffer))
                    {
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = target;
                    }
                    start = 0;
                    end = size;
                }

                var n = await socket.ReceiveAsync(buffer.AsMemory(end), SocketFlags.None, session.Token);
                if (n == 0)
                {
                    break;
                }
                end += n;
                while (start < end && TryProcess(session, buffer.AsSpan(start, end - start), out var consumed))
                {
                    start += consumed;
                }
                if (session.HasReplies)
                {
                    await session.StartSent.Task.WaitAsync(session.Token);
                    await session.FlushRepliesAsync();
                }
            }
        }
        catch (M2M.Load.Protocol.ClientProtocolException e)
        {
            session.ErrorText = e.Message;
            Plan.Counters.ProtocolError($"{Ident}: {e.Message}");
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
        {
        }
        finally
        {
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
            session.Abort();
            session.Identification.TrySetCanceled();
            session.StartSent.TrySetResult();
        }
    }

    // One task at a time uses the generator: the sender, or the reconnect loop between sessions.
    private double NextDouble() => _random.NextDouble();

    /// <summary>A delivery barrier in flight.</summary>
    protected readonly record struct Barrier(long Token, long LastSequence, long SentTimestamp, bool Windowed);

    /// <summary>One connection's state.</summary>
    protected sealed class Session : IDisposable
    {
        private readonly CancellationTokenSource _closed = new();
        private readonly SemaphoreSlim _window;
        private ArrayBufferWriter<byte>? _replies;
        private int _ended;

        public Session(Socket socket, int window)
        {
            Socket = socket;
            _window = new SemaphoreSlim(window, window);
        }

        public Socket Socket { get; }

        public SemaphoreSlim SendLock { get; } = new(1, 1);

        public SemaphoreSlim Window => _window;

        public Queue<Barrier> Barriers { get; } = new();

        /// <summary>The sequence of the last record this session has handed to its socket (0: none).</summary>
        public long LastSent => Volatile.Read(ref _lastSent);

        private long _lastSent;

        /// <summary>Records up to <paramref name="sequence"/> were handed to the socket (under the send lock).</summary>
        public void Sent(long sequence)
        {
            if (sequence > _lastSent)
            {
                Volatile.Write(ref _lastSent, sequence);
            }
        }

        /// <summary>Barriers in flight (read without the device lock: polled while draining).</summary>
        public int PendingBarriers => Barriers.Count;

        public long NextToken { get; set; } = 1;

        public TaskCompletionSource<bool> Identification { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>
        /// Completes once the frames that open the session (M2MP channel definitions) and the resends
        /// are written: answers to the server's pushes go after them.
        /// </summary>
        public TaskCompletionSource StartSent { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool IsIdentified => Identification.Task.IsCompletedSuccessfully && Identification.Task.Result;

        public CancellationToken Token => _closed.Token;

        public bool Ended => Volatile.Read(ref _ended) != 0;

        /// <summary>The server's error text, for the refusal message (ALIP <c>ERR</c>, protocol error).</summary>
        public string? ErrorText { get; set; }

        /// <summary>Server channel names by id (M2MP), filled by the server's definitions.</summary>
        public string?[]? ServerChannels { get; set; }

        /// <summary>Device channel ids already defined on this connection (M2MP), by name.</summary>
        public Dictionary<string, byte>? DeviceChannels { get; set; }

        public int NextDeviceChannel { get; set; }

        public int ReplayPosition { get; set; }

        public bool HasReplies => _replies is { WrittenCount: > 0 };

        /// <summary>Answers to the server, gathered while parsing and sent after.</summary>
        public ArrayBufferWriter<byte> Replies => _replies ??= new ArrayBufferWriter<byte>(256);

        public async ValueTask SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
        {
            while (!data.IsEmpty)
            {
                var n = await Socket.SendAsync(data, SocketFlags.None, cancellationToken);
                data = data[n..];
            }
        }

        public async Task FlushRepliesAsync()
        {
            await SendLock.WaitAsync(Token);
            try
            {
                await SendAsync(_replies!.WrittenMemory, Token);
            }
            finally
            {
                _replies!.ResetWrittenCount();
                SendLock.Release();
            }
        }

        public void ReleaseWindow(int count)
        {
            if (count > 0)
            {
                try
                {
                    _window.Release(count);
                }
                catch (SemaphoreFullException)
                {
                    // Barriers written outside the window (resend, drain) return no slot.
                }
            }
        }

        public void Abort()
        {
            if (Interlocked.Exchange(ref _ended, 1) != 0)
            {
                return;
            }
            try
            {
                _closed.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
            try
            {
                Socket.Shutdown(SocketShutdown.Both);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
            }
            Socket.Close();
        }

        public void Dispose()
        {
            Abort();
            _closed.Dispose();
            SendLock.Dispose();
            _window.Dispose();
        }
    }
}
