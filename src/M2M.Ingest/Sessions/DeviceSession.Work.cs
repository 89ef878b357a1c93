using Microsoft.Extensions.Logging;

namespace M2M.Ingest.Sessions;

/// <summary>
/// The session's work besides its input: pushes from the bus, the node timer's ticks, close
/// requests. Each is a flag in <see cref="_pendingWork"/> (work of one kind pending once is enough:
/// pushes mean "send what is pending", a tick looks at the clock), and a drain on the thread pool (or
/// the session threads, <see cref="IngestOptions.SessionThreads"/>) runs the pending work under the gate, only while there is some. An idle connection therefore
/// holds no work loop, queue or waiting task; a posted flag costs no allocation.
/// </summary>
internal abstract partial class DeviceSession : IThreadPoolWorkItem
{
    // SessionWork flags waiting for the drain.
    private int _pendingWork;
    // 1 while a drain is queued or running (at most one at a time).
    private int _drainScheduled;

    /// <summary>Queues a timer tick (called by the node's <see cref="SessionTicker"/>, any thread; never waits).</summary>
    internal void PostTick() => Post(SessionWork.Tick);

    /// <summary>Marks <paramref name="work"/> pending and starts a drain unless one is queued or running (any thread; never waits).</summary>
    private void Post(SessionWork work)
    {
        Interlocked.Or(ref _pendingWork, (int)work);
        if (Interlocked.CompareExchange(ref _drainScheduled, 1, 0) == 0)
        {
            // Without the caller's execution context (the publisher's activity, the ticker's thread).
            if (_services.Scheduler is { } sessionThreads)
            {
                sessionThreads.Post(static s => ((IThreadPoolWorkItem)s!).Execute(), this);
            }
            else
            {
                ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
            }
        }
    }

    void IThreadPoolWorkItem.Execute() => _ = DrainWorkAsync();

    private async Task DrainWorkAsync()
    {
        try
        {
            while (true)
            {
                var work = (SessionWork)Interlocked.Exchange(ref _pendingWork, 0);
                if (work == SessionWork.None)
                {
                    Volatile.Write(ref _drainScheduled, 0);
                    // Work posted after the exchange found the drain still scheduled and started none: take it on.
                    if (Volatile.Read(ref _pendingWork) == 0 || Interlocked.CompareExchange(ref _drainScheduled, 1, 0) != 0)
                    {
                        return;
                    }
                    continue;
                }
                if (IsClosing)
                {
                    // Nothing runs once the session closes; the flag stays set so that no drain starts again.
                    return;
                }
                await _gate.WaitAsync(Closing);
                try
                {
                    // Pushes first, then the tick, then a close request: what was asked before the
                    // close is done before the goodbye, as with a queue.
                    foreach (var one in Order)
                    {
                        if ((work & one) != 0 && !await RunWorkAsync(one))
                        {
                            return;
                        }
                    }
                }
                finally
                {
                    _gate.Release();
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Closing.
        }
        catch (ObjectDisposedException)
        {
            // Closed.
        }
    }

    private static readonly SessionWork[] Order = [SessionWork.SendSettings, SessionWork.SendCommands, SessionWork.Tick, SessionWork.Close];

    /// <summary>Runs one kind of work under the gate; <c>false</c> once the session is closing.</summary>
    private async ValueTask<bool> RunWorkAsync(SessionWork work)
    {
        if (work == SessionWork.Close && IsClosing)
        {
            return false;
        }
        // A tick that finds nothing to do (the common case) begins no log scope: OnTickAsync begins it when it acts.
        using var logScope = work == SessionWork.Tick ? null : Logger.BeginScope(_scope);
        try
        {
            await HandleWorkAsync(work);
            return !IsClosing;
        }
        catch (OperationCanceledException) when (IsClosing)
        {
            return false;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            await CloseOnErrorAsync(e, work);
            return false;
        }
    }

    private async ValueTask HandleWorkAsync(SessionWork work)
    {
        if (IsClosing)
        {
            return;
        }
        switch (work)
        {
            case SessionWork.Tick:
                await OnTickAsync();
                break;
            case SessionWork.SendSettings:
                if (IsIdentified)
                {
                    await PushSettingsAsync();
                    await FlushOutputAsync();
                }
                break;
            case SessionWork.SendCommands:
                if (IsIdentified)
                {
                    await PushCommandsAsync();
                    await FlushOutputAsync();
                }
                break;
            case SessionWork.Close:
                Logger.LogInformation("Closing on request: {Reason}", _closeReason);
                await CloseAsync(_closeReason ?? "disconnect");
                break;
        }
    }

    /// <summary>
    /// Once the read loop is over and the session cancelled: waits until a drain that is running
    /// leaves the gate, and keeps the gate, so that no work runs while the session ends.
    /// </summary>
    private async ValueTask StopWorkAsync()
    {
        Volatile.Write(ref _drainScheduled, 1);
        await _gate.WaitAsync();
    }

    /// <summary>Cancels the session: its awaits end and its pending read returns.</summary>
    private void CancelSession()
    {
        _closeCts.Cancel();
        CancelRead();
    }

    private void CancelRead()
    {
        try
        {
            _connection.Transport.Input.CancelPendingRead();
        }
        catch (Exception e) when (e is InvalidOperationException or ObjectDisposedException)
        {
            // The input is already completed.
        }
    }

    /// <summary>Work for the session's work drain (flags: one of each kind pending at most).</summary>
    [Flags]
    private enum SessionWork
    {
        None = 0,
        Tick = 1,
        SendSettings = 2,
        SendCommands = 4,
        Close = 8,
    }
}
