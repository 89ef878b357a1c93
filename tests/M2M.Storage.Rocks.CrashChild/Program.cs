// Writes records through the batch writer from several producers and prints "<id> <type> <utc ticks>"
// for each record as soon as WaitDurableAsync has returned for it. Runs until killed.
// Usage: M2M.Storage.Rocks.CrashChild <database directory> [producers]
//        M2M.Storage.Rocks.CrashChild upgrade <database directory> <records per batch> <batches>
//          opens the database (which upgrades an older format) and kills itself (SIGKILL) right after the
//          upgrade committed that many batches: an upgrade interrupted at a known point.
using M2M.Storage.Rocks;
using M2M.Storage.TimeSeries;
using Microsoft.Extensions.Logging;

if (args[0] == "upgrade")
{
    var options = new RocksStoreOptions { UpgradeBatchRecords = int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) };
    using var upgraded = RocksStore.Open(args[1], options, new KillAfterBatches(int.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture)));
    Console.WriteLine("upgrade completed");
    return;
}

var directory = args[0];
var producers = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 4;

using var store = RocksStore.Open(directory);
var series = new RocksTimeSeriesStore(store);
await using var writer = new RecordWriter(series, new RecordWriterOptions { QueueCapacity = 1_000, MaxBatchSize = 500 });
writer.Start();

var output = Console.Out;
var start = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero).UtcTicks;
Console.WriteLine("ready");

await Task.WhenAll(Enumerable.Range(0, producers).Select(p => Task.Run(async () =>
{
    var id = $"dev-{p}";
    const int Group = 10;
    var keys = new string[Group];
    for (long sequence = 0; ; sequence += Group)
    {
        long ticket = 0;
        for (var i = 0; i < Group; i++)
        {
            // One record per minute of series time: spans months quickly.
            var ticks = start + (sequence + i) * TimeSpan.TicksPerMinute * 7;
            ticket = await writer.WriteAsync(new TimeSeriesRecord(id, "sen:test", new DateTimeOffset(ticks, TimeSpan.Zero), $$"""{"seq":{{sequence + i}}}"""));
            keys[i] = $"{id} sen:test {ticks}";
        }
        await writer.WaitDurableAsync(ticket);
        lock (output)
        {
            foreach (var key in keys)
            {
                output.WriteLine(key);
            }
            output.Flush();
        }
    }
})));

/// <summary>Kills this process (SIGKILL: no flush, no dispose) when the storage upgrade reports its n-th committed batch.</summary>
internal sealed class KillAfterBatches(int batches) : ILogger
{
    private int _seen;

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        Console.WriteLine(formatter(state, exception));
        if (eventId.Name == "StorageUpgradeBatch" && ++_seen == batches)
        {
            Console.WriteLine("killing");
            Console.Out.Flush();
            System.Diagnostics.Process.GetCurrentProcess().Kill();
            Thread.Sleep(Timeout.Infinite);
        }
    }
}
