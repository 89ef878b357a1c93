using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using M2M.Api.Fleet;
using M2M.Server;
using M2M.Storage.Entities;
using M2M.Storage.TimeSeries;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

// The web console on a large fleet: the real server (M2MServer) with N devices in the registry
// (each with a position and a temperature), measured
//   1. through the API: /api/fleet (the in-memory fleet index) beside /api/devices (the registry
//      listing it replaces), one request at a time, median and p95;
//   2. in headless Chromium (Debian's, via Playwright): first page load (bytes transferred, time to
//      usable), the fleet page's first render and a search.
//   dotnet run -c Release --project bench/M2M.Console.Bench -- [--devices N] [--samples N] [--dir path] [--chromium path]
// The database is built on the first run and reused when complete.
var devices = int.Parse(Option("--devices") ?? "100000", CultureInfo.InvariantCulture);
var samples = int.Parse(Option("--samples") ?? "50", CultureInfo.InvariantCulture);
var directory = Option("--dir") ?? Path.Combine(Path.GetTempPath(), $"m2m-console-bench-{devices}");
var chromium = Option("--chromium") ?? "/usr/bin/chromium";
const string Password = "bench-password-1";
string[] baseArgs = ["--urls", "http://127.0.0.1:0", "--M2M:DataDirectory", directory, "--M2M:Ingest:M2mpPort", "0", "--M2M:Ingest:AlipPort", "0",
    "--M2M:Admin:Password", Password, "--Logging:LogLevel:Default", "Warning", "--M2M:Storage:Rocks:Durability", "ProcessCrash"];

Console.WriteLine($"load average at start: {File.ReadAllText("/proc/loadavg").Trim()}");
var marker = Path.Combine(directory, "console-bench-complete");
if (!File.Exists(marker))
{
    await SeedAsync();
}

// A fresh start on the seeded data: the fleet index loads from the registry.
var started = Stopwatch.StartNew();
var app = M2MServer.Build(baseArgs);
await app.StartAsync();
await app.Services.GetRequiredService<FleetIndex>().Loaded;
Console.WriteLine($"fleet index loaded: {app.Services.GetRequiredService<FleetIndex>().Count} devices, {started.Elapsed.TotalSeconds:F1} s after start");
var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

using var http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromMinutes(10) };
var token = (await (await http.PostAsJsonAsync("/api/auth/token", new { user = "admin", password = Password })).Content.ReadFromJsonAsync<JsonElement>()).GetProperty("access_token").GetString();
http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
var rare = $"bench:{devices / 2 + 17:D8}"[^8..];

Console.WriteLine();
Console.WriteLine($"| request ({devices:N0} devices) | samples | median | p95 |");
Console.WriteLine("|---|---:|---:|---:|");
await TimeAsync("`GET /api/fleet?limit=100` (first page, by ident)", "/api/fleet?limit=100", samples);
await TimeAsync("`GET /api/fleet?sort=name&limit=100`", "/api/fleet?sort=name&limit=100", samples);
await TimeAsync("`GET /api/fleet?sort=lastSeen&order=desc&limit=100`", "/api/fleet?sort=lastSeen&order=desc&limit=100", samples);
await TimeAsync($"`GET /api/fleet?q={rare}` (search, 1 match)", $"/api/fleet?q={rare}", samples);
await TimeAsync("`GET /api/fleet?q=truck&limit=100` (search, 10 % match)", "/api/fleet?q=truck&limit=100", samples);
await TimeAsync("`GET /api/fleet/positions?limit=5000` (map)", "/api/fleet/positions?limit=5000", Math.Max(5, samples / 5));
await TimeAsync("baseline `GET /api/devices?limit=100` (registry listing, first page)", "/api/devices?limit=100", samples);
await TimeAsync($"baseline `GET /api/devices?q={rare}` (registry listing, search)", $"/api/devices?q={rare}", Math.Max(3, samples / 10));

// The index alone (in process, no HTTP, no store reads): what a page costs before its 100 devices are read.
var index = app.Services.GetRequiredService<FleetIndex>();
var connections = app.Services.GetRequiredService<M2M.Ingest.Connections.IConnectionRegistry>();
Console.WriteLine();
Console.WriteLine($"| fleet index query ({index.Count:N0} devices, in process) | samples | median | p95 |");
Console.WriteLine("|---|---:|---:|---:|");
TimeIndex("by ident, first page", new FleetQuery(null, null, FleetSort.Ident, false, 100, null));
TimeIndex("by name, first page", new FleetQuery(null, null, FleetSort.Name, false, 100, null));
TimeIndex("by last seen, newest first", new FleetQuery(null, null, FleetSort.LastSeen, true, 100, null));
TimeIndex("by online", new FleetQuery(null, null, FleetSort.Online, true, 100, null));
TimeIndex($"search `{rare}` (1 match)", new FleetQuery(null, rare, FleetSort.Ident, false, 100, null));
TimeIndex("search `truck` (10 % match)", new FleetQuery(null, "truck", FleetSort.Ident, false, 100, null));

// ---- the browser ----
using var playwright = await Playwright.CreateAsync();
await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
{
    ExecutablePath = chromium,
    Headless = true,
    Args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
var loads = new List<(long Bytes, int Requests, double Usable, double FirstRender, double Search)>();
for (var run = 0; run < 5; run++)
{
    // A fresh context each run: an empty cache, as a first visit.
    await using var context = await browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = address.ToString(), ViewportSize = new ViewportSize { Width = 1400, Height = 900 } });
    var page = await context.NewPageAsync();
    var responses = new List<IResponse>();
    page.Response += (_, response) => responses.Add(response);
    var watch = Stopwatch.StartNew();
    await page.GotoAsync("/");
    await page.Locator("input[name=user]").WaitForAsync();
    var usable = watch.Elapsed.TotalMilliseconds;
    long bytes = 0;
    foreach (var response in responses.ToList())
    {
        var sizes = await response.Request.SizesAsync();
        bytes += sizes.ResponseBodySize + sizes.ResponseHeadersSize;
    }
    var requests = responses.Count;

    await page.Locator("input[name=user]").FillAsync("admin");
    await page.Locator("input[name=password]").FillAsync(Password);
    watch.Restart();
    await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
    await page.Locator("tr[data-testid=fleet-row]").First.WaitForAsync(new() { Timeout = 120_000 });
    var firstRender = watch.Elapsed.TotalMilliseconds;

    watch.Restart();
    await page.GetByTestId("fleet-search").FillAsync(rare);
    await page.Locator($"tr[data-ident='bench:{devices / 2 + 17:D8}']").WaitForAsync(new() { Timeout = 120_000 });
    await page.GetByTestId("fleet-total").Filter(new() { HasText = "of 1 devices" }).WaitForAsync(new() { Timeout = 120_000 });
    var search = watch.Elapsed.TotalMilliseconds;
    loads.Add((bytes, requests, usable, firstRender, search));
}
Console.WriteLine();
Console.WriteLine("| browser (5 cold runs, median) | value |");
Console.WriteLine("|---|---:|");
Console.WriteLine($"| first page load: bytes transferred (headers + bodies, {loads[0].Requests} requests) | {Median(loads.Select(l => (double)l.Bytes)):N0} B |");
Console.WriteLine($"| first page load: time to usable (sign-in form ready) | {Median(loads.Select(l => l.Usable)):F0} ms |");
Console.WriteLine($"| fleet of {devices:N0}: sign-in click → first row rendered | {Median(loads.Select(l => l.FirstRender)):F0} ms |");
Console.WriteLine($"| fleet of {devices:N0}: search typed → the one match shown (250 ms debounce included) | {Median(loads.Select(l => l.Search)):F0} ms |");
Console.WriteLine();
Console.WriteLine($"load average at end: {File.ReadAllText("/proc/loadavg").Trim()}");
await app.StopAsync();
await app.DisposeAsync();
return;

async Task SeedAsync()
{
    if (Directory.Exists(directory))
    {
        Directory.Delete(directory, recursive: true);
    }
    var seeding = M2MServer.Build(baseArgs);
    await seeding.StartAsync();
    var store = seeding.Services.GetRequiredService<IDeviceStore>();
    var series = seeding.Services.GetRequiredService<ITimeSeriesStore>();
    var watch = Stopwatch.StartNew();
    var batch = new List<TimeSeriesRecord>(10_000);
    var now = DateTimeOffset.UtcNow;
    for (var d = 0; d < devices; d++)
    {
        var device = await store.GetOrCreateByIdentAsync($"bench:{d:D8}", autoRegister: true) ?? throw new InvalidOperationException("no device");
        if (d % 10 == 0)
        {
            await store.SetDisplayNameAsync(device.Id, $"Truck {d}");
        }
        var series_ = $"dev-{device.Id:D}";
        var time = now.AddSeconds(-d);
        batch.Add(new TimeSeriesRecord(series_, "sen:loc", time, FormattableString.Invariant($"{{\"lat\":{-60 + 120.0 * (d % 997) / 997:F5},\"lon\":{-170 + 340.0 * (d % 1009) / 1009:F5},\"spd\":{d % 120}}}")));
        batch.Add(new TimeSeriesRecord(series_, "sen:temp", time, FormattableString.Invariant($"\"{d % 400 / 10.0:F1}\"")));
        if (batch.Count >= 10_000)
        {
            await series.SaveManyAsync(batch);
            batch.Clear();
        }
        if (d > 0 && d % 20_000 == 0)
        {
            Console.WriteLine($"seeded {d:N0} devices in {watch.Elapsed.TotalSeconds:F0} s");
        }
    }
    await series.SaveManyAsync(batch);
    await seeding.StopAsync();
    await seeding.DisposeAsync();
    File.WriteAllText(marker, devices.ToString(CultureInfo.InvariantCulture));
    Console.WriteLine($"seeded {devices:N0} devices in {watch.Elapsed.TotalSeconds:F0} s");
}

async Task TimeAsync(string label, string path, int count)
{
    // One warm-up request, then one request at a time.
    (await http.GetAsync(path)).EnsureSuccessStatusCode();
    var times = new List<double>(count);
    for (var i = 0; i < count; i++)
    {
        var watch = Stopwatch.StartNew();
        using var response = await http.GetAsync(path);
        await response.Content.ReadAsByteArrayAsync();
        response.EnsureSuccessStatusCode();
        times.Add(watch.Elapsed.TotalMilliseconds);
    }
    times.Sort();
    Console.WriteLine($"| {label} | {count} | {Median(times):F1} ms | {times[(int)Math.Ceiling(0.95 * times.Count) - 1]:F1} ms |");
}

void TimeIndex(string label, FleetQuery query)
{
    index.Query(query, connections);
    var times = new List<double>(samples);
    for (var i = 0; i < samples; i++)
    {
        var watch = Stopwatch.StartNew();
        index.Query(query, connections);
        times.Add(watch.Elapsed.TotalMilliseconds);
    }
    times.Sort();
    Console.WriteLine($"| {label} | {samples} | {Median(times):F2} ms | {times[(int)Math.Ceiling(0.95 * times.Count) - 1]:F2} ms |");
}

static double Median(IEnumerable<double> values)
{
    var sorted = values.Order().ToList();
    return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
}

string? Option(string name)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}
