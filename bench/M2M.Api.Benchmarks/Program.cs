using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using M2M.Server;
using M2M.Storage.Entities;
using M2M.Storage.TimeSeries;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

// HTTP latency of the API on a large database: the real server (M2MServer) on a loopback port,
// timed one request at a time with a Stopwatch (median and p99 of single requests, client included).
//   dotnet run -c Release --project bench/M2M.Api.Benchmarks -- [--devices N] [--records-per-device N] [--samples N] [--dir path]
// The database is built through the server's own stores on first run and reused when complete.
// With --auth, only the cost of the credentials is measured instead (AuthLatency.cs), on an empty database.
if (args.Contains("--auth"))
{
    return await AuthLatency.RunAsync(int.Parse(Option("--samples") ?? "2000", CultureInfo.InvariantCulture));
}
var devices = int.Parse(Option("--devices") ?? "500", CultureInfo.InvariantCulture);
var perDevice = int.Parse(Option("--records-per-device") ?? "6000", CultureInfo.InvariantCulture);
var samples = int.Parse(Option("--samples") ?? "2000", CultureInfo.InvariantCulture);
var directory = Option("--dir") ?? Path.Combine(Path.GetTempPath(), $"m2m-api-bench-{devices}x{perDevice}");
const string Password = "bench-password-1";
string[] types = ["sen:loc", "sen:temp", "sen:volt"];
var start = new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);
var interval = TimeSpan.FromMinutes(5);

var app = M2MServer.Build(["--urls", "http://127.0.0.1:0", "--M2M:DataDirectory", directory, "--M2M:Ingest:M2mpPort", "0", "--M2M:Ingest:AlipPort", "0",
    "--M2M:Admin:Password", Password, "--Logging:LogLevel:Default", "Warning"]);
await app.StartAsync();
var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
var marker = Path.Combine(directory, "bench-complete");
var ids = new List<Guid>();
var store = app.Services.GetRequiredService<IDeviceStore>();
if (File.Exists(marker))
{
    ids.AddRange(File.ReadAllLines(marker).Select(Guid.Parse));
    Console.WriteLine($"Reusing {directory} ({ids.Count} devices × {perDevice} records).");
}
else
{
    var series = app.Services.GetRequiredService<ITimeSeriesStore>();
    var watch = Stopwatch.StartNew();
    var batch = new List<TimeSeriesRecord>(5_000);
    for (var d = 0; d < devices; d++)
    {
        var device = await store.GetOrCreateByIdentAsync($"bench:{d:D8}", autoRegister: true) ?? throw new InvalidOperationException("no device");
        ids.Add(device.Id);
        for (var i = 0; i < perDevice; i++)
        {
            var type = types[i % types.Length];
            var data = type == "sen:loc" ? $"{{\"lat\":{48 + (i % 1000) / 1000.0:F3},\"lon\":{2 + (d % 100) / 100.0:F2},\"spd\":{i % 120}}}" : (i % 400 / 10.0).ToString("F1", CultureInfo.InvariantCulture);
            batch.Add(new TimeSeriesRecord($"dev-{device.Id:D}", type, start + interval * i, data));
            if (batch.Count == 5_000)
            {
                await series.SaveManyAsync(batch);
                batch.Clear();
            }
        }
    }
    if (batch.Count > 0)
    {
        await series.SaveManyAsync(batch);
    }
    await File.WriteAllLinesAsync(marker, ids.Select(i => i.ToString("D")));
    Console.WriteLine($"Built {devices * (long)perDevice:N0} records of {devices} devices in {watch.Elapsed.TotalSeconds:F0} s.");
}

using var http = new HttpClient { BaseAddress = new Uri(address) };
var login = await http.PostAsJsonAsync("/api/auth/token", new { user = "admin", password = Password });
login.EnsureSuccessStatusCode();
http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", (await login.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("access_token").GetString());

var random = new Random(7);
string Latest() => $"/api/devices/{ids[random.Next(ids.Count)]}/data/latest";
string Range(string order)
{
    var first = random.Next(Math.Max(1, perDevice - 1_100));
    var from = Uri.EscapeDataString((start + interval * first).ToString("O", CultureInfo.InvariantCulture));
    return $"/api/devices/{ids[random.Next(ids.Count)]}/data?from={from}&order={order}&limit=1000";
}

for (var i = 0; i < 300; i++)
{
    await Time(Latest(), 1);
    await Time(Range("asc"), 1000);
}
Report("GET data/latest (3 types)", await Measure(() => Latest(), 3));
Report("GET data, 1000 records, oldest first", await Measure(() => Range("asc"), 1000));
Report("GET data, 1000 records, newest first", await Measure(() => Range("desc"), 1000));
Console.WriteLine($"Database: {ids.Count} devices × {perDevice} records = {ids.Count * (long)perDevice:N0} records, {new DirectoryInfo(directory).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length) / (1 << 20):N0} MiB on disk.");
await app.StopAsync();
return 0;

async Task<double> Time(string url, int expected)
{
    var started = Stopwatch.GetTimestamp();
    using var response = await http.GetAsync(url);
    var body = await response.Content.ReadAsByteArrayAsync();
    var elapsed = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
    response.EnsureSuccessStatusCode();
    using var doc = JsonDocument.Parse(body);
    var count = doc.RootElement.TryGetProperty("items", out var items) ? items.GetArrayLength() : doc.RootElement.EnumerateObject().Count();
    if (count < expected)
    {
        throw new InvalidOperationException($"{url} returned {count} items, expected {expected}.");
    }
    return elapsed;
}

async Task<double[]> Measure(Func<string> url, int expected)
{
    var times = new double[samples];
    for (var i = 0; i < samples; i++)
    {
        times[i] = await Time(url(), expected);
    }
    Array.Sort(times);
    return times;
}

static void Report(string name, double[] sorted) =>
    Console.WriteLine(FormattableString.Invariant(
        $"{name,-40} n={sorted.Length} median={sorted[sorted.Length / 2]:F2} ms p99={sorted[(int)(sorted.Length * 0.99)]:F2} ms max={sorted[^1]:F2} ms"));

string? Option(string name)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}
