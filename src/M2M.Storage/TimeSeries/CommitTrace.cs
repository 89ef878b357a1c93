using System.Globalization;

namespace M2M.Storage.TimeSeries;

/// <summary>
/// The batch writer's commit trace (<see cref="RecordWriterOptions.CommitTraceFile"/>, off by default): one
/// CSV line per group commit, written by the committing thread into a buffered file, to line slow delivery
/// barriers (<c>m2m-load --latency-log</c>) up with what the commits waited on.
/// </summary>
/// <remarks>
/// Columns: <c>unix_ms</c> (commit done), <c>records</c>, <c>queue_wait_us</c> (oldest record accepted → batch
/// taken), <c>prepare_us</c>, <c>handoff_us</c> (batch taken → its write started: preparation plus waiting for
/// the previous commit), <c>write_us</c> (WAL append and sync), <c>total_us</c> (batch taken → durable),
/// <c>gc_pause_us</c>, <c>gc0</c>, <c>gc1</c>, <c>gc2</c> (pauses and collections since the previous line),
/// <c>pool_pending</c>, <c>pool_threads</c> (thread-pool queue and threads), <c>flushes</c>, <c>compactions</c>
/// (running), <c>delayed_rate</c> (bytes/s RocksDB throttles writes to, 0: not throttled), <c>stopped</c>,
/// <c>l0_files</c> (of <c>ts</c>).
/// </remarks>
internal sealed class CommitTrace : IDisposable
{
    private readonly StreamWriter _writer;
    private readonly Lock _lock = new();
    private TimeSpan _lastPause = GC.GetTotalPauseDuration();
    private int _gen0 = GC.CollectionCount(0), _gen1 = GC.CollectionCount(1), _gen2 = GC.CollectionCount(2);
    private int _lines;

    public CommitTrace(string path)
    {
        _writer = new StreamWriter(path, append: false) { AutoFlush = false };
        _writer.WriteLine("unix_ms,records,queue_wait_us,prepare_us,handoff_us,write_us,total_us,gc_pause_us,gc0,gc1,gc2,pool_pending,pool_threads,flushes,compactions,delayed_rate,stopped,l0_files");
    }

    public void Write(int records, TimeSpan queueWait, CommitTimings timings, TimeSpan handoff, TimeSpan total, StoreBackgroundWork background)
    {
        lock (_lock)
        {
            var pause = GC.GetTotalPauseDuration();
            int gen0 = GC.CollectionCount(0), gen1 = GC.CollectionCount(1), gen2 = GC.CollectionCount(2);
            var line = string.Create(CultureInfo.InvariantCulture,
                $"{DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()},{records},{Us(queueWait)},{Us(timings.PrepareTicks)},{Us(handoff)},{Us(timings.WriteTicks)},{Us(total)},{Us(pause - _lastPause)},{gen0 - _gen0},{gen1 - _gen1},{gen2 - _gen2},{ThreadPool.PendingWorkItemCount},{ThreadPool.ThreadCount},{background.RunningFlushes},{background.RunningCompactions},{background.DelayedWriteRate},{(background.WritesStopped ? 1 : 0)},{background.Level0Files}");
            (_lastPause, _gen0, _gen1, _gen2) = (pause, gen0, gen1, gen2);
            _writer.WriteLine(line);
            if (++_lines % 256 == 0)
            {
                _writer.Flush();
            }
        }
    }

    private static long Us(TimeSpan span) => (long)(span.Ticks / 10);

    private static long Us(long stopwatchTicks) => stopwatchTicks * 1_000_000 / System.Diagnostics.Stopwatch.Frequency;

    public void Dispose()
    {
        lock (_lock)
        {
            _writer.Dispose();
        }
    }
}
