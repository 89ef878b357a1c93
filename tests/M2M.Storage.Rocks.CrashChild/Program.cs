// Writes records through the batch writer from several producers and prints "<id> <type> <utc ticks>"
// for each record as soon as WaitDurableAsync has returned for it. Runs until killed.
// Usage: M2M.Storage.Rocks.CrashChild <database directory> [producers]
using M2M.Storage.Rocks;
using M2M.Storage.TimeSeries;

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
