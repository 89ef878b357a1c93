using M2M.Ingest.Connections;

namespace M2M.Ingest.Sessions;

/// <summary>
/// The clock of every session of a node: one timer that, each period, posts a tick into the work
/// queue of every live session (identification timeout, idle disconnect, server pings). One timer
/// per node instead of one per connection keeps an idle connection's memory down (no timer, no
/// timer loop, no cancellation registration of its own). Started by the first session.
/// </summary>
internal sealed class SessionTicker : IDisposable
{
    private readonly ConnectionRegistry _registry;
    private readonly TimeSpan _period;
    private readonly Lock _startLock = new();
    private Timer? _timer;
    private int _ticking;
    private bool _disposed;

    public SessionTicker(ConnectionRegistry registry, IngestOptions options)
    {
        _registry = registry;
        var shortest = new[] { options.IdentificationTimeout, options.PingAfterIdle, options.PingMinSendGap, options.IdleDisconnect }.Min();
        _period = TimeSpan.FromMilliseconds(Math.Clamp(shortest.TotalMilliseconds / 5, 20, 1000));
    }

    /// <summary>The time between two ticks of a session.</summary>
    public TimeSpan Period => _period;

    /// <summary>Starts the timer if it is not running yet (any thread).</summary>
    public void EnsureStarted()
    {
        if (Volatile.Read(ref _timer) is not null)
        {
            return;
        }
        lock (_startLock)
        {
            if (_timer is null && !_disposed)
            {
                // Without the execution context: the timer must not keep the first session's log scope or activity alive.
                using (ExecutionContext.SuppressFlow())
                {
                    Volatile.Write(ref _timer, new Timer(static s => ((SessionTicker)s!).Tick(), this, _period, _period));
                }
            }
        }
    }

    private void Tick()
    {
        // A tick that takes longer than the period (very many sessions, a starved thread pool) is not overlapped.
        if (Interlocked.Exchange(ref _ticking, 1) != 0)
        {
            return;
        }
        try
        {
            foreach (var connection in _registry.Live)
            {
                if (connection is DeviceSession session)
                {
                    session.PostTick();
                }
            }
        }
        finally
        {
            Volatile.Write(ref _ticking, 0);
        }
    }

    public void Dispose()
    {
        lock (_startLock)
        {
            _disposed = true;
            _timer?.Dispose();
        }
    }
}
