using System.Diagnostics;
using System.Globalization;
using M2M.Messaging;
using M2M.Messaging.Nats;
using M2M.Storage.TimeSeries;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

// jetstream-bench --url nats://127.0.0.1:4222 [--records 400000] [--producers 64] [--rate 0] [--barrier-every 50]
//                 [--batch 500] [--inflight 64]
// Publishes records through an ingest node's storage publisher (JetStreamRecordWriter) from
// --producers concurrent producers (a device connection each), each closing every --barrier-every
// records with a barrier, at --rate records/s in total (0: as fast as the stream acknowledges).
// Prints records/s acknowledged and the barrier latency percentiles. No writer consumes: this is
// the bus alone. The stream is a fresh one (unique prefix) and is deleted at the end.
var options = Args.Parse(args);
var prefix = "bench" + Guid.NewGuid().ToString("N")[..8];
var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
{
    ["ConnectionStrings:nats"] = options.Url,
    ["M2M:Nats:Prefix"] = prefix,
    ["M2M:Nats:PublishBatchRecords"] = options.Batch.ToString(CultureInfo.InvariantCulture),
    ["M2M:Nats:PublishMaxInFlight"] = options.InFlight.ToString(CultureInfo.InvariantCulture),
});
builder.Logging.AddSimpleConsole().SetMinimumLevel(LogLevel.Warning);
builder.AddNatsBus();
using var host = builder.Build();
await host.StartAsync();
var bus = host.Services.GetRequiredService<IRecordBus>();
var nats = host.Services.GetRequiredService<NatsInfrastructure>();
await nats.EnsureStreamsAsync(CancellationToken.None);

var perProducer = options.Records / options.Producers;
var latencies = new List<double>[options.Producers];
var interval = options.Rate > 0 ? TimeSpan.FromSeconds((double)options.Producers * options.BarrierEvery / options.Rate) : TimeSpan.Zero;
var started = Stopwatch.GetTimestamp();
await Task.WhenAll(Enumerable.Range(0, options.Producers).Select(p => Task.Run(async () =>
{
    var publisher = bus.CreatePublisher();
    var series = $"dev-{Guid.NewGuid():D}";
    var own = latencies[p] = new List<double>(perProducer / options.BarrierEvery + 1);
    var next = Stopwatch.GetTimestamp();
    for (var i = 0; i < perProducer; i++)
    {
        await publisher.PublishAsync(new TimeSeriesRecord(series, "sen:loc", DateTimeOffset.FromUnixTimeMilliseconds(1_750_000_000_000 + i),
            """{"lat":48.85661,"lon":2.35222,"spd":42,"alt":35}"""));
        if ((i + 1) % options.BarrierEvery == 0 || i == perProducer - 1)
        {
            var barrier = Stopwatch.GetTimestamp();
            await publisher.FlushAsync();
            own.Add(Stopwatch.GetElapsedTime(barrier).TotalMilliseconds);
            if (interval > TimeSpan.Zero)
            {
                next += (long)(interval.TotalSeconds * Stopwatch.Frequency);
                var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), next);
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait);
                }
            }
        }
    }
})));
var elapsed = Stopwatch.GetElapsedTime(started);
var total = perProducer * options.Producers;
var all = latencies.SelectMany(l => l).Order().ToArray();
double Percentile(double q) => all.Length == 0 ? 0 : all[Math.Min(all.Length - 1, (int)(q * all.Length))];
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"records={total} producers={options.Producers} batch={options.Batch} inflight={options.InFlight} rate={(options.Rate > 0 ? options.Rate.ToString(CultureInfo.InvariantCulture) : "max")} " +
    $"seconds={elapsed.TotalSeconds:F2} records_per_s={total / elapsed.TotalSeconds:F0} barrier_ms_p50={Percentile(0.50):F2} p99={Percentile(0.99):F2} max={(all.Length == 0 ? 0 : all[^1]):F2} barriers={all.Length}"));

var js = nats.JetStream;
await js.DeleteStreamAsync(nats.Names.StorageStream);
await js.DeleteStreamAsync(nats.Names.ConverterStream);
await host.StopAsync();

internal sealed record Args(string Url, int Records, int Producers, double Rate, int BarrierEvery, int Batch, int InFlight)
{
    public static Args Parse(string[] args)
    {
        string Get(string name, string fallback)
        {
            var i = Array.IndexOf(args, name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
        }
        int Int(string name, int fallback) => int.Parse(Get(name, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);
        return new Args(
            Get("--url", "nats://127.0.0.1:4222"),
            Int("--records", 400_000),
            Math.Max(1, Int("--producers", 64)),
            double.Parse(Get("--rate", "0"), CultureInfo.InvariantCulture),
            Math.Max(1, Int("--barrier-every", 50)),
            Int("--batch", 500),
            Int("--inflight", 64));
    }
}
