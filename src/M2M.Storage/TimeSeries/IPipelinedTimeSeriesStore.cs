using M2M.Storage.Forwarding;

namespace M2M.Storage.TimeSeries;

/// <summary>
/// A time-series store whose group commit comes in two steps, so that the batch writer prepares the next
/// commit (encoding, sorting: CPU only) while the current one is written and synced (waiting on the disk).
/// </summary>
/// <remarks>
/// Preparations do not depend on each other nor on commits in flight; <see cref="IPreparedCommit.Commit"/>
/// calls are made one at a time, in preparation order, and each is what
/// <see cref="ITimeSeriesStore.SaveManyAsync(IReadOnlyList{TimeSeriesRecord}, IReadOnlyList{FeedGroup}, CancellationToken)"/>
/// of the same records and feed would have done (one atomic, durable commit).
/// </remarks>
public interface IPipelinedTimeSeriesStore
{
    /// <summary>
    /// Prepares the commit of <paramref name="records"/> and <paramref name="feed"/>; <c>null</c> when this
    /// store cannot (the caller then saves them with <c>SaveManyAsync</c>).
    /// </summary>
    IPreparedCommit? Prepare(IReadOnlyList<TimeSeriesRecord> records, IReadOnlyList<FeedGroup>? feed);

    /// <summary>The store's background work now (for the writer's commit trace); cheap, but not free.</summary>
    StoreBackgroundWork ReadBackgroundWork();
}

/// <summary>A prepared group commit: <see cref="Commit"/> at most once, then dispose (also when not committed).</summary>
public interface IPreparedCommit : IDisposable
{
    /// <summary>Writes the prepared commit durably; throws when it failed (nothing of it is then stored).</summary>
    void Commit();

    /// <summary>Where the time went: preparation, then inside <see cref="Commit"/> the write itself (WAL append and sync).</summary>
    CommitTimings Timings { get; }
}

/// <summary>Durations of one prepared commit, in <see cref="System.Diagnostics.Stopwatch"/> ticks.</summary>
public readonly record struct CommitTimings(long PrepareTicks, long WriteTicks);

/// <summary>Flushes, compactions and write throttling of a store at one instant (−1: unknown).</summary>
public readonly record struct StoreBackgroundWork(int RunningFlushes, int RunningCompactions, long DelayedWriteRate, bool WritesStopped, int Level0Files)
{
    /// <summary>Nothing known (a store without background work).</summary>
    public static readonly StoreBackgroundWork Unknown = new(-1, -1, -1, false, -1);
}
