namespace M2M.Storage.TimeSeries;

/// <summary>
/// The thread that writes the batch writer's pipelined commits: a commit blocks for the WAL sync, so it
/// runs on a thread of its own instead of holding a thread-pool thread (which the sessions need) and
/// instead of queueing behind the sessions' work items to start. One job at a time.
/// </summary>
internal sealed class CommitThread : IDisposable
{
    private readonly SemaphoreSlim _ready = new(0);
    private readonly Thread _thread;
    private Func<bool>? _job;
    private TaskCompletionSource<bool>? _done;
    private volatile bool _stopping;

    public CommitThread()
    {
        _thread = new Thread(Loop) { IsBackground = true, Name = "M2M record writer commits" };
        _thread.Start();
    }

    /// <summary>Runs <paramref name="job"/> on the commit thread; the previous job must have completed.</summary>
    public Task<bool> Run(Func<bool> job)
    {
        var done = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (Interlocked.CompareExchange(ref _job, job, null) is not null)
        {
            throw new InvalidOperationException("A commit is already in flight.");
        }
        _done = done;
        _ready.Release();
        return done.Task;
    }

    private void Loop()
    {
        while (true)
        {
            _ready.Wait();
            if (_stopping)
            {
                return;
            }
            var job = _job!;
            var done = _done!;
            try
            {
                var result = job();
                Volatile.Write(ref _job, null);
                done.SetResult(result);
            }
            catch (Exception e)
            {
                Volatile.Write(ref _job, null);
                done.SetException(e);
            }
        }
    }

    /// <summary>Ends the thread once its job (if any) is done.</summary>
    public void Dispose()
    {
        _stopping = true;
        _ready.Release();
        _thread.Join();
        _ready.Dispose();
    }
}
