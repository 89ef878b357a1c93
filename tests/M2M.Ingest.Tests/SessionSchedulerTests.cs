using M2M.Ingest.Hosting;
using Microsoft.Extensions.Logging.Abstractions;

namespace M2M.Ingest.Tests;

/// <summary>The session threads (<c>M2M:Ingest:SessionThreads</c>): where work runs and what survives failures and disposal.</summary>
public sealed class SessionSchedulerTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Code_switched_to_the_scheduler_runs_on_its_threads_and_comes_back_to_them_after_an_await()
    {
        using var scheduler = new SessionScheduler(2, 0, NullLogger.Instance);
        var seen = new List<string?>();

        async Task RunAsync()
        {
            await scheduler.SwitchTo();
            seen.Add(Thread.CurrentThread.Name);
            // Completed on a thread-pool thread: the continuation is posted back to the scheduler.
            await Task.Run(() => Thread.Sleep(10), Ct);
            seen.Add(Thread.CurrentThread.Name);
            await Task.Yield();
            seen.Add(Thread.CurrentThread.Name);
            Assert.True(scheduler.IsCurrent);
        }

        await Task.Run(RunAsync, Ct).WaitAsync(Wait, Ct);

        Assert.Equal(3, seen.Count);
        Assert.All(seen, name => Assert.StartsWith("m2m-session-", name, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_failing_work_item_does_not_stop_the_threads()
    {
        using var scheduler = new SessionScheduler(1, 0, NullLogger.Instance);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        scheduler.Post(_ => throw new InvalidOperationException("boom"), null);
        scheduler.Post(_ => done.SetResult(), null);

        await done.Task.WaitAsync(Wait, Ct);
    }

    [Fact]
    public async Task Work_posted_after_disposal_runs_on_the_thread_pool()
    {
        var scheduler = new SessionScheduler(1, 0, NullLogger.Instance);
        scheduler.Dispose();
        var ranOn = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);

        scheduler.Post(_ => ranOn.SetResult(Thread.CurrentThread.IsThreadPoolThread), null);

        Assert.True(await ranOn.Task.WaitAsync(Wait, Ct));
    }

    [Fact]
    public async Task Work_queued_before_disposal_still_runs()
    {
        var scheduler = new SessionScheduler(1, 0, NullLogger.Instance);
        var gate = new ManualResetEventSlim();
        var ran = 0;
        scheduler.Post(_ => gate.Wait(Wait), null);
        for (var i = 0; i < 10; i++)
        {
            scheduler.Post(_ => Interlocked.Increment(ref ran), null);
        }

        scheduler.Dispose();
        gate.Set();

        await DeviceWait.UntilAsync(() => Volatile.Read(ref ran) == 10, Wait);
    }

    [Fact]
    public async Task On_Linux_the_threads_run_the_configured_nice_steps_below_the_process()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "Thread priorities are set on Linux only.");
        var own = ThreadNice();
        using var scheduler = new SessionScheduler(2, 7, NullLogger.Instance);
        var nice = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);

        scheduler.Post(_ => nice.SetResult(ThreadNice()), null);

        Assert.Equal(Math.Min(19, own + 7), await nice.Task.WaitAsync(Wait, Ct));
        Assert.Equal(0, scheduler.PriorityFailures);
        // The process's other threads keep their priority.
        Assert.Equal(own, ThreadNice());
    }

    /// <summary>The calling thread's nice value: field 19 of <c>/proc/thread-self/stat</c> (after the command name in parentheses).</summary>
    internal static int ThreadNice()
    {
        var stat = File.ReadAllText("/proc/thread-self/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return int.Parse(fields[19 - 3], System.Globalization.CultureInfo.InvariantCulture);
    }

    private static class DeviceWait
    {
        public static async Task UntilAsync(Func<bool> condition, TimeSpan timeout)
        {
            var deadline = DateTime.UtcNow + timeout;
            while (!condition())
            {
                Assert.True(DateTime.UtcNow < deadline, "The condition was not met in time.");
                await Task.Delay(10, Ct);
            }
        }
    }
}
