namespace M2M.Load.Stats;

/// <summary>
/// Counters shared by every simulated device of a run. Devices add whole batches at once, so the
/// hot path does a few interlocked adds per barrier, not per record.
/// </summary>
public sealed class RunCounters
{
    private long _connectAttempts;
    private long _connectionsEstablished;
    private long _connectFailures;
    private long _identified;
    private long _identRefused;
    private long _disconnects;
    private long _protocolErrors;
    private long _serverErrors;
    private long _recordsSent;
    private long _recordsResent;
    private long _recordsAcked;
    private long _recordsDropped;
    private long _barriersSent;
    private long _barriersAcked;
    private long _settingsAcked;
    private long _commandsAcked;
    private long _statusReported;
    private long _serverPings;
    private long _connected;
    private string? _lastError;

    private LatencyHistogram _barrierLatency = new();
    private System.Collections.Concurrent.ConcurrentQueue<(long UnixMs, long LatencyMicroseconds)>? _barrierLog;

    /// <summary>Keeps every barrier's answer time and latency from now on (<c>--latency-log</c>), to line slow barriers up with server events.</summary>
    public void KeepBarrierLog() => _barrierLog ??= new();

    /// <summary>Writes the kept barriers as CSV (<c>unix_ms,latency_us</c>, in answer order).</summary>
    public void WriteBarrierLog(string path)
    {
        using var writer = new StreamWriter(path);
        writer.WriteLine("unix_ms,latency_us");
        foreach (var (unixMs, latency) in _barrierLog ?? [])
        {
            writer.WriteLine(FormattableString.Invariant($"{unixMs},{latency}"));
        }
    }

    /// <summary>Barrier latency since the start, or since the last <see cref="RestartLatency"/>.</summary>
    public LatencyHistogram BarrierLatency => Volatile.Read(ref _barrierLatency);

    /// <summary>Starts a new latency histogram (the measurement window begins after the ramp-up).</summary>
    public void RestartLatency() => Volatile.Write(ref _barrierLatency, new LatencyHistogram());

    public long ConnectAttempts => Volatile.Read(ref _connectAttempts);
    public long ConnectionsEstablished => Volatile.Read(ref _connectionsEstablished);
    public long ConnectFailures => Volatile.Read(ref _connectFailures);
    public long Identified => Volatile.Read(ref _identified);
    public long IdentRefused => Volatile.Read(ref _identRefused);
    public long Disconnects => Volatile.Read(ref _disconnects);
    public long ProtocolErrors => Volatile.Read(ref _protocolErrors);
    public long ServerErrors => Volatile.Read(ref _serverErrors);
    public long RecordsSent => Volatile.Read(ref _recordsSent);
    public long RecordsResent => Volatile.Read(ref _recordsResent);
    public long RecordsAcked => Volatile.Read(ref _recordsAcked);
    public long RecordsDropped => Volatile.Read(ref _recordsDropped);
    public long BarriersSent => Volatile.Read(ref _barriersSent);
    public long BarriersAcked => Volatile.Read(ref _barriersAcked);
    public long SettingsAcked => Volatile.Read(ref _settingsAcked);
    public long CommandsAcked => Volatile.Read(ref _commandsAcked);
    public long StatusReported => Volatile.Read(ref _statusReported);
    public long ServerPings => Volatile.Read(ref _serverPings);

    /// <summary>Identified connections open now.</summary>
    public long Connected => Volatile.Read(ref _connected);

    /// <summary>The most recent error message (connect failure, refusal, protocol error).</summary>
    public string? LastError => Volatile.Read(ref _lastError);

    /// <summary>Every error counted: failed connects, refusals, protocol errors, server <c>ERR</c> lines.</summary>
    public long Errors => ConnectFailures + IdentRefused + ProtocolErrors + ServerErrors;

    public void ConnectAttempt() => Interlocked.Increment(ref _connectAttempts);
    public void ConnectionEstablished() => Interlocked.Increment(ref _connectionsEstablished);

    public void ConnectFailed(string error)
    {
        Interlocked.Increment(ref _connectFailures);
        Volatile.Write(ref _lastError, error);
    }

    public void IdentifiedNow() { Interlocked.Increment(ref _identified); Interlocked.Increment(ref _connected); }
    public void IdentificationEnded() => Interlocked.Decrement(ref _connected);

    public void Refused(string error)
    {
        Interlocked.Increment(ref _identRefused);
        Volatile.Write(ref _lastError, error);
    }

    public void Disconnected() => Interlocked.Increment(ref _disconnects);

    public void ProtocolError(string error)
    {
        Interlocked.Increment(ref _protocolErrors);
        Volatile.Write(ref _lastError, error);
    }

    public void ServerError(string error)
    {
        Interlocked.Increment(ref _serverErrors);
        Volatile.Write(ref _lastError, error);
    }

    public void Sent(int records) => Interlocked.Add(ref _recordsSent, records);
    public void Resent(int records) => Interlocked.Add(ref _recordsResent, records);
    public void Dropped(int records) => Interlocked.Add(ref _recordsDropped, records);
    public void BarrierSent() => Interlocked.Increment(ref _barriersSent);

    public void BarrierAcked(int records, long latencyMicroseconds)
    {
        Interlocked.Add(ref _recordsAcked, records);
        Interlocked.Increment(ref _barriersAcked);
        BarrierLatency.Record(latencyMicroseconds);
        _barrierLog?.Enqueue((DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), latencyMicroseconds));
    }

    public void SettingAcked(int count) => Interlocked.Add(ref _settingsAcked, count);
    public void CommandAcked() => Interlocked.Increment(ref _commandsAcked);
    public void StatusSent() => Interlocked.Increment(ref _statusReported);
    public void ServerPinged() => Interlocked.Increment(ref _serverPings);
}
