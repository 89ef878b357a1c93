using System.Diagnostics.Metrics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace M2M.Ingest.Hosting;

/// <summary>
/// Gives buffer memory back to the system after a burst. Kestrel's memory pools (.NET 10) evict the
/// blocks that stay idle, but an evicted block is only garbage: the memory returns to the system when
/// a garbage collection frees and decommits it, and a server that has gone quiet after a flood hardly
/// allocates, so that collection may not come for hours. This service watches the pools' eviction
/// metric (<c>aspnetcore.memory_pool.evicted</c>) and, once <see cref="IngestOptions.MemoryTrimThreshold"/>
/// bytes were evicted since the last trim, runs one aggressive (compacting, decommitting) collection —
/// at most once a minute.
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
        var threshold = options.Value.MemoryTrimThreshold;
        if (threshold <= 0)
        {
            return;
        }
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == PoolMeter && instrument.Name == EvictedInstrument)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, bytes, _, _) => Interlocked.Add(ref _evicted, bytes));
        listener.Start();

        using var timer = new PeriodicTimer(CheckEvery);
        var lastTrim = DateTime.UtcNow - MinInterval;
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                if (Interlocked.Read(ref _evicted) < threshold || DateTime.UtcNow - lastTrim < MinInterval)
                {
                    continue;
                }
                var evicted = Interlocked.Exchange(ref _evicted, 0);
                var before = Environment.WorkingSet;
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
                lastTrim = DateTime.UtcNow;
                logger.LogInformation(
                    "Memory trimmed after {Evicted} bytes of network buffers were released: working set {Before} → {After} bytes",
                    evicted, before, Environment.WorkingSet);
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }
}
