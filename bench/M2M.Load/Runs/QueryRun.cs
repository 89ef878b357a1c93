using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using M2M.Load.Cli;
using M2M.Load.Simulation;
using M2M.Load.Stats;

namespace M2M.Load.Runs;

/// <summary>What one query kind measured.</summary>
public sealed class QueryKindStats
{
    public LatencyHistogram Latency { get; } = new();

    /// <summary>Where the time went, when the server sends its <c>Server-Timing</c> (M2M:Api:ServerTiming).</summary>
    public LatencySplit Split { get; } = new();

    private long _items;
    private long _short;

    /// <summary>Records (pages) or types (latest values) in the answers, summed.</summary>
    public long Items => Volatile.Read(ref _items);

    /// <summary>Answers with fewer items than expected: pages shorter than the page size where a full one fits, empty latest values.</summary>
    public long Short => Volatile.Read(ref _short);

    public void Answered(long microseconds, int items, bool isShort)
    {
        Latency.Record(microseconds);
        Interlocked.Add(ref _items, items);
        if (isShort)
        {
            Interlocked.Increment(ref _short);
        }
    }
}

/// <summary>
/// <c>m2m-load query</c>: signs in to the HTTP API, finds the devices <c>load</c> created, then lets
/// workers alternate a page of records of one type at a random position in a random device's history
/// and the latest values of a random device, timing each from the request to the answer's last byte.
/// </summary>
public static class QueryRun
{
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(30);
    private const string ServerTimingHeader = "Server-Timing";

    public static async Task<JsonObject> RunAsync(LoadOptions o, TextWriter progress, CancellationToken cancellationToken)
    {
        var q = o.Query;
        using var http = new HttpClient(new SocketsHttpHandler
        {
            MaxConnectionsPerServer = Math.Max(q.Concurrency, 8),
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
        })
        {
            BaseAddress = q.ApiUrl,
            Timeout = RequestTimeout,
        };
        var auth = new ApiAuthenticator(http, q);
        await auth.SignInAsync(cancellationToken);

        var started = Stopwatch.GetTimestamp();
        var (devices, missing) = await FindDevicesAsync(http, o, cancellationToken);
        if (devices.Count == 0)
        {
            throw new IOException($"none of the {o.Devices} devices {DevicePlan.Ident(o.IdentPrefix, o.IdentOffset)}… is registered (or visible to this caller).");
        }
        var targets = await DiscoverAsync(http, devices, q, cancellationToken);
        if (targets.Count == 0)
        {
            throw new IOException($"the {devices.Count} devices found hold no record{(q.Type is null ? "" : $" of type {q.Type}")}.");
        }
        // Pages aim at series that hold a full page (the server's own event type of a device may hold a few records only).
        var pageTargets = targets.Any(t => t.Full) ? targets.Where(t => t.Full).ToList() : targets;
        var discovery = Stopwatch.GetElapsedTime(started);
        await progress.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"m2m-load query: {q.ApiUrl} as {(q.ApiKey is null ? q.User : "API key")}, {devices.Count} devices ({missing} missing), {targets.Count} series ({targets.Count(t => t.Full)} with full pages: the pages' targets) found in {discovery.TotalSeconds:0.0} s"));

        var page = new QueryKindStats();
        var latest = new QueryKindStats();
        var errors = new ErrorCounts();
        var measuring = 0;
        long issued = 0;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var runStart = Stopwatch.GetTimestamp();
        var workers = Enumerable.Range(0, q.Concurrency).Select(w => Task.Run(async () =>
        {
            var random = new Random(unchecked(Environment.TickCount * 31 + w));
            var buffer = new byte[64 * 1024];
            for (var n = w; !stop.IsCancellationRequested; n++)
            {
                if (o.Rate > 0)
                {
                    var due = TimeSpan.FromSeconds(Interlocked.Increment(ref issued) / o.Rate);
                    var wait = due - Stopwatch.GetElapsedTime(runStart);
                    if (wait < -TimeSpan.FromSeconds(1))
                    {
                        // Far behind (the answers are slower than the rate): move the schedule on instead of bursting to catch up.
                        Interlocked.Add(ref issued, (long)(-wait.TotalSeconds * o.Rate));
                    }
                    else if (wait > TimeSpan.FromMilliseconds(1))
                    {
                        try
                        {
                            await Task.Delay(wait, stop.Token);
                        }
                        catch (OperationCanceledException)
                        {
                            break;
                        }
                    }
                }
                var isPage = (n & 1) == 0;
                string path;
                PageTarget? target = null;
                if (isPage)
                {
                    target = pageTargets[random.Next(pageTargets.Count)];
                    path = target.PagePath(q.Order, q.PageSize, random);
                }
                else
                {
                    path = $"/api/devices/{devices[random.Next(devices.Count)].Id:D}/data/latest";
                }
                var counted = Volatile.Read(ref measuring) == 1;
                var t0 = Stopwatch.GetTimestamp();
                int length;
                HttpStatusCode status;
                long headersAt;
                string? serverTiming;
                try
                {
                    using var request = new HttpRequestMessage(HttpMethod.Get, path);
                    request.Headers.Authorization = auth.Header;
                    using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, stop.Token);
                    headersAt = Stopwatch.GetTimestamp();
                    status = response.StatusCode;
                    serverTiming = response.Headers.TryGetValues(ServerTimingHeader, out var timing) ? timing.FirstOrDefault() : null;
                    (length, buffer) = await ReadBodyAsync(response, buffer, stop.Token);
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    break;
                }
                catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException)
                {
                    if (counted)
                    {
                        errors.Add(e is TaskCanceledException ? "timeout" : "connection", e.Message);
                    }
                    continue;
                }
                var doneAt = Stopwatch.GetTimestamp();
                var microseconds = (long)Stopwatch.GetElapsedTime(t0, doneAt).TotalMicroseconds;
                if (status != HttpStatusCode.OK)
                {
                    if (counted)
                    {
                        errors.Add(((int)status).ToString(CultureInfo.InvariantCulture), $"{path}: {(int)status} {Encoding.UTF8.GetString(buffer, 0, Math.Min(length, 300))}");
                    }
                    if (status == HttpStatusCode.Unauthorized)
                    {
                        await auth.RenewAsync(stop.Token);
                    }
                    continue;
                }
                var body = buffer.AsSpan(0, length);
                var items = isPage ? PageTarget.CountItems(body) : PageTarget.CountProperties(body);
                if (items < 0)
                {
                    if (counted)
                    {
                        errors.Add("bad_body", $"{path}: the answer is not {(isPage ? "a page" : "a JSON object")}");
                    }
                    continue;
                }
                if (counted)
                {
                    var kind = isPage ? page : latest;
                    kind.Answered(microseconds, items, isPage ? target!.Full && items < q.PageSize : items == 0);
                    kind.Split.Record(LatencySplit.Nanoseconds(t0), LatencySplit.Nanoseconds(headersAt), LatencySplit.Nanoseconds(doneAt), serverTiming);
                }
            }
        }, CancellationToken.None)).ToArray();

        var measureStart = Stopwatch.GetTimestamp();
        try
        {
            if (q.Warmup > TimeSpan.Zero)
            {
                if (!o.Quiet)
                {
                    await progress.WriteLineAsync($"warm-up {q.Warmup.TotalSeconds:0.#} s");
                }
                await Task.Delay(q.Warmup, stop.Token);
            }
            Volatile.Write(ref measuring, 1);
            measureStart = Stopwatch.GetTimestamp();
            for (var tick = 1; ; tick++)
            {
                var target = TimeSpan.FromSeconds(Math.Min(tick, o.Duration.TotalSeconds));
                var wait = target - Stopwatch.GetElapsedTime(measureStart);
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, stop.Token);
                }
                if (!o.Quiet)
                {
                    await progress.WriteLineAsync(Progress(Stopwatch.GetElapsedTime(measureStart), page, latest, errors));
                }
                if (target >= o.Duration)
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        var measured = Stopwatch.GetElapsedTime(measureStart);
        await stop.CancelAsync();
        await Task.WhenAll(workers);

        return Result(o, devices.Count, missing, targets, measured, page, latest, errors);
    }

    /// <summary>The result object of a run (<c>--json</c> prints it as is).</summary>
    public static JsonObject Result(LoadOptions o, int devices, int missing, IReadOnlyList<PageTarget> targets, TimeSpan measured, QueryKindStats page, QueryKindStats latest, ErrorCounts errors)
    {
        var q = o.Query;
        return new JsonObject
        {
            ["command"] = "query",
            ["api_url"] = q.ApiUrl?.ToString(),
            ["devices"] = devices,
            ["devices_missing"] = missing,
            ["series"] = targets.Count,
            ["series_with_full_pages"] = targets.Count(t => t.Full),
            ["concurrency"] = q.Concurrency,
            ["target_rate"] = o.Rate > 0 ? o.Rate : null,
            ["page_size"] = q.PageSize,
            ["order"] = q.Order == PageOrder.Desc ? "desc" : "asc",
            ["type"] = q.Type,
            ["warmup_s"] = Report.Round(q.Warmup.TotalSeconds),
            ["measured_s"] = Report.Round(measured.TotalSeconds),
            ["page"] = Kind(page, measured, "records_per_page", "short_pages"),
            ["latest"] = Kind(latest, measured, "types_per_answer", "empty_answers"),
            ["errors"] = errors.ToJson(),
        };

        static JsonObject Kind(QueryKindStats s, TimeSpan measured, string itemsName, string shortName)
        {
            var h = s.Latency;
            return new JsonObject
            {
                ["count"] = h.Count,
                ["per_s"] = measured > TimeSpan.Zero ? Math.Round(h.Count / measured.TotalSeconds, 1) : 0,
                ["p50_ms"] = Report.Round(h.Percentile(50) / 1000.0),
                ["p95_ms"] = Report.Round(h.Percentile(95) / 1000.0),
                ["p99_ms"] = Report.Round(h.Percentile(99) / 1000.0),
                ["max_ms"] = Report.Round(h.Max / 1000.0),
                ["mean_ms"] = Report.Round(h.Mean / 1000.0),
                [itemsName] = h.Count > 0 ? Report.Round((double)s.Items / h.Count) : 0,
                [shortName] = s.Short,
                ["split"] = s.Split.Before.Count > 0 ? s.Split.ToJson() : null,
            };
        }
    }

    /// <summary>Whether a result shows a working run: both kinds answered at least once.</summary>
    public static bool Succeeded(JsonObject result) =>
        (result["page"]?["count"]?.GetValue<long>() ?? 0) > 0 && (result["latest"]?["count"]?.GetValue<long>() ?? 0) > 0;

    private static string Progress(TimeSpan elapsed, QueryKindStats page, QueryKindStats latest, ErrorCounts errors)
    {
        var p = page.Latency;
        var l = latest.Latency;
        return string.Create(CultureInfo.InvariantCulture,
            $"[{elapsed.TotalSeconds,5:0}s] page {p.Count} p50 {Report.Ms(p.Percentile(50))} p99 {Report.Ms(p.Percentile(99))}  latest {l.Count} p50 {Report.Ms(l.Percentile(50))} p99 {Report.Ms(l.Percentile(99))}  errors {errors.Total}");
    }

    /// <summary>Reads the whole body into <paramref name="buffer"/>, growing it (the grown one is returned for reuse).</summary>
    private static async Task<(int Length, byte[] Buffer)> ReadBodyAsync(HttpResponseMessage response, byte[] buffer, CancellationToken cancellationToken)
    {
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        var length = 0;
        while (true)
        {
            if (length == buffer.Length)
            {
                if (buffer.Length >= 64 * 1024 * 1024)
                {
                    throw new IOException("an answer larger than 64 MiB.");
                }
                Array.Resize(ref buffer, buffer.Length * 2);
            }
            var n = await stream.ReadAsync(buffer.AsMemory(length), cancellationToken);
            if (n == 0)
            {
                return (length, buffer);
            }
            length += n;
        }
    }

    private static async Task<(List<(Guid Id, string Ident)> Devices, int Missing)> FindDevicesAsync(HttpClient http, LoadOptions o, CancellationToken cancellationToken)
    {
        var found = new ConcurrentDictionary<int, (Guid, string)>();
        var missing = 0;
        await Parallel.ForEachAsync(Enumerable.Range(o.IdentOffset, o.Devices), new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = cancellationToken }, async (index, token) =>
        {
            var ident = DevicePlan.Ident(o.IdentPrefix, index);
            using var response = await http.GetAsync($"/api/devices/by-ident/{Uri.EscapeDataString(ident)}", token);
            if (response.StatusCode == HttpStatusCode.NotFound)
            {
                Interlocked.Increment(ref missing);
                return;
            }
            await EnsureOkAsync(response, token);
            using var document = JsonDocument.Parse(await response.Content.ReadAsStreamAsync(token));
            found[index] = (document.RootElement.GetProperty("id").GetGuid(), ident);
        });
        return (found.OrderBy(f => f.Key).Select(f => f.Value).ToList(), missing);
    }

    /// <summary>For each device: its types (latest values), then its oldest and newest page of each type.</summary>
    private static async Task<List<PageTarget>> DiscoverAsync(HttpClient http, List<(Guid Id, string Ident)> devices, QueryOptions q, CancellationToken cancellationToken)
    {
        var targets = new ConcurrentBag<PageTarget>();
        await Parallel.ForEachAsync(devices, new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = cancellationToken }, async (device, token) =>
        {
            List<string> types;
            using (var latest = JsonDocument.Parse(await GetAsync(http, $"/api/devices/{device.Id:D}/data/latest", token)))
            {
                types = latest.RootElement.EnumerateObject().Select(p => p.Name).Where(t => q.Type is null || t == q.Type).ToList();
            }
            foreach (var type in types)
            {
                var path = $"/api/devices/{device.Id:D}/data?type={Uri.EscapeDataString(type)}&limit={q.PageSize}&order=";
                using var asc = JsonDocument.Parse(await GetAsync(http, path + "asc", token));
                using var desc = JsonDocument.Parse(await GetAsync(http, path + "desc", token));
                if (PageTarget.FromPages(device.Id, type, asc.RootElement, desc.RootElement, q.PageSize) is { } target)
                {
                    targets.Add(target);
                }
            }
        });
        return targets.OrderBy(t => t.Device).ThenBy(t => t.Type, StringComparer.Ordinal).ToList();
    }

    private static async Task<byte[]> GetAsync(HttpClient http, string path, CancellationToken cancellationToken)
    {
        using var response = await http.GetAsync(path, cancellationToken);
        await EnsureOkAsync(response, cancellationToken);
        return await response.Content.ReadAsByteArrayAsync(cancellationToken);
    }

    private static async Task EnsureOkAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (!response.IsSuccessStatusCode)
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            throw new IOException($"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri?.PathAndQuery}: {(int)response.StatusCode} {body[..Math.Min(body.Length, 300)]}");
        }
    }
}

/// <summary>Failed queries by kind of failure (HTTP status, <c>timeout</c>, <c>connection</c>, <c>bad_body</c>), with the last message.</summary>
public sealed class ErrorCounts
{
    private readonly ConcurrentDictionary<string, long> _counts = new(StringComparer.Ordinal);
    private string? _last;

    public long Total => _counts.Values.Sum();

    public void Add(string kind, string message)
    {
        _counts.AddOrUpdate(kind, 1, (_, n) => n + 1);
        Volatile.Write(ref _last, message);
    }

    public JsonObject ToJson()
    {
        var byKind = new JsonObject();
        foreach (var (kind, count) in _counts.OrderBy(c => c.Key, StringComparer.Ordinal))
        {
            byKind[kind] = count;
        }
        return new JsonObject { ["total"] = Total, ["by_kind"] = byKind, ["last"] = Volatile.Read(ref _last) };
    }
}

/// <summary>
/// The <c>Authorization</c> header of the run: an API key as is, or an access token from
/// <c>POST /api/auth/token</c>, renewed by signing in again when the API answers 401 (the token expired).
/// </summary>
internal sealed class ApiAuthenticator(HttpClient http, QueryOptions q)
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private AuthenticationHeaderValue? _header;
    private long _issuedAt;

    public AuthenticationHeaderValue Header => _header ?? throw new InvalidOperationException("not signed in");

    public async Task SignInAsync(CancellationToken cancellationToken)
    {
        if (q.ApiKey is { } key)
        {
            _header = new AuthenticationHeaderValue("Bearer", key);
            http.DefaultRequestHeaders.Authorization = _header;
            return;
        }
        var body = new JsonObject { ["user"] = q.User, ["password"] = QueryCli.PasswordOf(q) }.ToJsonString();
        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        using var response = await http.PostAsync("/api/auth/token", content, cancellationToken);
        if (response.StatusCode is HttpStatusCode.Unauthorized)
        {
            throw new IOException($"sign-in as '{q.User}' refused (401): wrong user or password.");
        }
        if (!response.IsSuccessStatusCode)
        {
            throw new IOException($"sign-in as '{q.User}': {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(cancellationToken)}");
        }
        using var document = JsonDocument.Parse(await response.Content.ReadAsStreamAsync(cancellationToken));
        _header = new AuthenticationHeaderValue("Bearer", document.RootElement.GetProperty("access_token").GetString());
        // Discovery requests use the client's default header; the workers set theirs per request (a renewal
        // must not change a header collection other threads read).
        http.DefaultRequestHeaders.Authorization ??= _header;
        Volatile.Write(ref _issuedAt, Stopwatch.GetTimestamp());
    }

    /// <summary>Signs in again after a 401, once for all the workers that saw it (an API key is not renewable: nothing happens).</summary>
    public async Task RenewAsync(CancellationToken cancellationToken)
    {
        if (q.ApiKey is not null)
        {
            return;
        }
        var seen = Volatile.Read(ref _issuedAt);
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (Volatile.Read(ref _issuedAt) == seen)
            {
                await SignInAsync(cancellationToken);
            }
        }
        finally
        {
            _gate.Release();
        }
    }
}
