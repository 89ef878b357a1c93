using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace M2M.Ingest.Hosting;

/// <summary>
/// Runs device sessions on threads of their own instead of the thread pool (<see cref="IngestOptions.SessionThreads"/>),
/// so that the host's other work on the pool — HTTP requests above all — does not queue behind the
/// sessions' parsing in the pool's one queue. A session posts itself here when it starts
/// (<see cref="SwitchTo"/>); from then on every <c>await</c> of the session code (which does not use
/// <c>ConfigureAwait(false)</c>) comes back to this context. Kestrel's pipes ignore the awaiting code's
/// context, so the read loop moves back here after each read, and the session's other work (pushes,
/// ticks) is posted here too. Code that hops to the pool (<c>ConfigureAwait(false)</c> in storage, the
/// storage writer, Kestrel's socket work) stays there.
/// </summary>
/// <remarks>
/// On Linux each thread lowers its own priority by <see cref="IngestOptions.SessionThreadNice"/> nice
/// steps below the process's (a thread may always lower its priority): when the processors are all
/// busy, the kernel gives the other threads of the process (HTTP requests, the storage writer) the
/// larger share; when they are not, sessions run as fast as before. Linux gives a new thread the nice
/// value of the thread that starts it, so a thread-pool worker that the pool happens to start from a
/// session thread runs lowered too. Work posted after disposal runs on the thread pool, so a
/// continuation is never lost while the host stops.
/// </remarks>
internal sealed class SessionScheduler : SynchronizationContext, IDisposable
{
    private readonly ConcurrentQueue<(SendOrPostCallback Callback, object? State)> _queue = new();
    private readonly SemaphoreSlim _ready = new(0);
    private readonly Thread[] _threads;
    private readonly int _nice;
    private readonly ILogger _logger;
    private volatile bool _disposed;
    private int _priorityFailures;

    public SessionScheduler(int threads, int nice, ILogger logger)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        _nice = nice;
        _logger = logger;
        _threads = new Thread[threads];
        for (var i = 0; i < threads; i++)
        {
            _threads[i] = new Thread(Run) { IsBackground = true, Name = $"m2m-session-{i + 1}" };
            _threads[i].Start();
        }
    }

    /// <summary>Number of threads.</summary>
    public int ThreadCount => _threads.Length;

    /// <summary>Whether the calling thread is one of this scheduler's.</summary>
    public bool IsCurrent => Current == this;

    /// <summary>Threads whose priority could not be lowered (0 where it worked or was not asked for).</summary>
    public int PriorityFailures => Volatile.Read(ref _priorityFailures);

    public override void Post(SendOrPostCallback d, object? state)
    {
        ArgumentNullException.ThrowIfNull(d);
        if (_disposed)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static s => s.d(s.state), (d, state), preferLocal: false);
            return;
        }
        _queue.Enqueue((d, state));
        _ready.Release();
    }

    public override SynchronizationContext CreateCopy() => this;

    /// <summary>An awaitable that continues on this scheduler (at once when already on it).</summary>
    public SwitchAwaitable SwitchTo() => new(this);

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        // Each thread takes one release, finds the queue empty and ends; what is left in the queue runs first.
        _ready.Release(_threads.Length);
    }

    private void Run()
    {
        SetSynchronizationContext(this);
        LowerPriority();
        while (true)
        {
            _ready.Wait();
            if (!_queue.TryDequeue(out var work))
            {
                if (_disposed)
                {
                    return;
                }
                continue;
            }
            try
            {
                work.Callback(work.State);
            }
            catch (Exception e)
            {
                // Await continuations catch their own exceptions into their tasks; anything else posted
                // here must not take the thread (and with it every session posted to it) down.
                _logger.LogError(e, "A session work item failed");
            }
        }
    }

    private void LowerPriority()
    {
        if (_nice <= 0 || !OperatingSystem.IsLinux())
        {
            return;
        }
        // getpriority/setpriority(PRIO_PROCESS, tid, …) read and set the nice value of one thread on Linux;
        // the value is relative to the thread's (the process's) own, so a server started under `nice` stays below it.
        string? failure = null;
        try
        {
            var tid = Native.GetTid();
            var current = Native.GetPriority(0, tid);
            if (current == -1 && Marshal.GetLastPInvokeError() != 0)
            {
                failure = $"getpriority: errno {Marshal.GetLastPInvokeError()}";
            }
            else if (Native.SetPriority(0, tid, Math.Min(19, current + _nice)) != 0)
            {
                failure = $"setpriority: errno {Marshal.GetLastPInvokeError()}";
            }
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            failure = e.Message;
        }
        if (failure is not null)
        {
            Interlocked.Increment(ref _priorityFailures);
            _logger.LogWarning("Could not lower the priority of session thread {Thread}: {Failure}", Thread.CurrentThread.Name, failure);
        }
    }

    /// <summary>Awaits the move onto the scheduler.</summary>
    public readonly struct SwitchAwaitable(SessionScheduler scheduler)
    {
        public SwitchAwaiter GetAwaiter() => new(scheduler);
    }

    /// <summary>Completed when already on the scheduler; otherwise posts the continuation to it.</summary>
    public readonly struct SwitchAwaiter(SessionScheduler scheduler) : System.Runtime.CompilerServices.ICriticalNotifyCompletion
    {
        public bool IsCompleted => scheduler.IsCurrent;

        public void GetResult()
        {
        }

        public void OnCompleted(Action continuation)
        {
            if (ExecutionContext.Capture() is { } context)
            {
                scheduler.Post(static s => { var (c, a) = ((ExecutionContext, Action))s!; ExecutionContext.Run(c, static a => ((Action)a!)(), a); }, (context, continuation));
            }
            else
            {
                scheduler.Post(static c => ((Action)c!)(), continuation);
            }
        }

        public void UnsafeOnCompleted(Action continuation) => scheduler.Post(static c => ((Action)c!)(), continuation);
    }

    private static class Native
    {
        [DllImport("libc", EntryPoint = "setpriority", SetLastError = true)]
        public static extern int SetPriority(int which, int who, int priority);

        [DllImport("libc", EntryPoint = "getpriority", SetLastError = true)]
        public static extern int GetPriority(int which, int who);

        [DllImport("libc", EntryPoint = "gettid")]
        public static extern int GetTid();
    }
}
