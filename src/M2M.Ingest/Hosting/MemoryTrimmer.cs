using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace M2M.Ingest.Hosting;

/// <summary>
/// Gives memory back to the system after a burst. Two bursts leave memory that the garbage collector
/// keeps until its next collection, which a server gone quiet may not cause for hours:
/// <list type="bullet">
/// <item>network buffers: Kestrel's memory pools (.NET 10) evict the blocks that stay idle, but an
/// evicted block is only garbage. This service watches the pools' eviction metric
/// (<c>aspnetcore.memory_pool.evicted</c>) and trims once <see cref="IngestOptions.MemoryTrimThreshold"/>
/// bytes were evicted since the last trim;</item>
/// <item>the free space a burst leaves in the heap (a reconnect storm's identifications, a backlog of
/// records): once <see cref="IngestOptions.IdleTrimAllocatedBytes"/> bytes were allocated since the last
/// trim, the working set grew by a quarter of that, and the process then allocated less than a sixteenth
/// of it in one check interval (it is quiet), trim.</item>
/// </list>
/// A trim is one aggressive (compacting, decommitting) collection, at most once a minute.
/// </summary>
internal sealed class MemoryTrimmer(IOptions<IngestOptions> options, ILogger<MemoryTrimmer> logger) : BackgroundService
{
    private const string PoolMeter = "Microsoft.AspNetCore.MemoryPool";
    private const string EvictedInstrument = "aspnetcore.memory_pool.evicted";
    private static readonly TimeSpan CheckEvery = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan MinInterval = TimeSpan.FromMinutes(1);

    private long _evicted;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var o = options.Value;
        if (o.MemoryTrimThreshold <= 0 && o.IdleTrimAllocatedBytes <= 0)
        {
            return;
        }
        using var listener = new MeterListener();
        if (o.MemoryTrimThreshold > 0)
        {
            listener.InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == PoolMeter && instrument.Name == EvictedInstrument)
                {
                    l.EnableMeasurementEvents(instrument);
                }
            };
            listener.SetMeasurementEventCallback<long>((_, bytes, _, _) => Interlocked.Add(ref _evicted, bytes));
            listener.Start();
        }

        var policy = new MemoryTrimPolicy(o.MemoryTrimThreshold, o.IdleTrimAllocatedBytes, MinInterval, DateTimeOffset.UtcNow, GC.GetTotalAllocatedBytes(), Environment.WorkingSet);
        using var timer = new PeriodicTimer(CheckEvery);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                var reason = policy.Check(DateTimeOffset.UtcNow, GC.GetTotalAllocatedBytes(), Environment.WorkingSet, Interlocked.Read(ref _evicted));
                if (reason is null)
                {
                    continue;
                }
                var before = Environment.WorkingSet;
                var started = Stopwatch.GetTimestamp();
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
                var took = Stopwatch.GetElapsedTime(started);
                // The evicted buffers' memory went back with this collection too.
                Interlocked.Exchange(ref _evicted, 0);
                var after = Environment.WorkingSet;
                policy.Trimmed(DateTimeOffset.UtcNow, GC.GetTotalAllocatedBytes(), after);
                logger.LogInformation(
                    "Memory trimmed because {Reason}: working set {Before} → {After} bytes, collection {Milliseconds:0.#} ms",
                    reason, before, after, took.TotalMilliseconds);
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }
}

/// <summary>
/// When <see cref="MemoryTrimmer"/> trims: the decision at each check, from the process's counters
/// (bytes allocated so far, working set, pool bytes evicted since the last trim) and the time.
/// </summary>
internal sealed class MemoryTrimPolicy
{
    private readonly long _evictedThreshold;
    private readonly long _idleThreshold;
    private readonly TimeSpan _minInterval;
    private DateTimeOffset _lastTrim;
    private long _allocatedAtTrim;
    private long _allocatedAtCheck;
    private long _workingSetAtTrim;

    /// <param name="evictedThreshold"><see cref="IngestOptions.MemoryTrimThreshold"/> (0 = off).</param>
    /// <param name="idleThreshold"><see cref="IngestOptions.IdleTrimAllocatedBytes"/> (0 = off).</param>
    /// <param name="minInterval">Least time between two trims; the first may come at once.</param>
    /// <param name="now">The time at the start.</param>
    /// <param name="allocated">Bytes the process allocated so far (<see cref="GC.GetTotalAllocatedBytes(bool)"/>).</param>
    /// <param name="workingSet">The process's working set at the start (bytes).</param>
    public MemoryTrimPolicy(long evictedThreshold, long idleThreshold, TimeSpan minInterval, DateTimeOffset now, long allocated, long workingSet)
    {
        _evictedThreshold = evictedThreshold;
        _idleThreshold = idleThreshold;
        _minInterval = minInterval;
        _lastTrim = now - minInterval;
        _allocatedAtTrim = _allocatedAtCheck = allocated;
        _workingSetAtTrim = workingSet;
    }

    /// <summary>A check: why to trim now, or <c>null</c> to wait (each call starts a new quiet window).</summary>
    public string? Check(DateTimeOffset now, long allocated, long workingSet, long evicted)
    {
        var sinceCheck = allocated - _allocatedAtCheck;
        _allocatedAtCheck = allocated;
        if (now - _lastTrim < _minInterval)
        {
            return null;
        }
        if (_evictedThreshold > 0 && evicted >= _evictedThreshold)
        {
            return $"{evicted} bytes of network buffers were released";
        }
        if (_idleThreshold > 0
            && allocated - _allocatedAtTrim >= _idleThreshold
            && sinceCheck < _idleThreshold / 16
            && workingSet - _workingSetAtTrim >= _idleThreshold / 4)
        {
            return $"the node went quiet after allocating {allocated - _allocatedAtTrim} bytes and growing by {workingSet - _workingSetAtTrim} bytes";
        }
        return null;
    }

    /// <summary>A trim ran: the next one needs a new burst, measured from here.</summary>
    public void Trimmed(DateTimeOffset now, long allocated, long workingSet)
    {
        _lastTrim = now;
        _allocatedAtTrim = _allocatedAtCheck = allocated;
        _workingSetAtTrim = workingSet;
    }
}
