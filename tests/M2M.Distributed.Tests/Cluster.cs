using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using M2M.Testing;

namespace M2M.Distributed.Tests;

/// <summary>
/// A whole distributed platform on this machine: a nats-server and a PostgreSQL of its own, storage
/// writers, two ingest nodes (A, B) and an API node, each a process.
/// </summary>
public sealed class Cluster : IAsyncDisposable
{
    public const string AdminPassword = "distributed-admin-1";

    // 33 random-looking bytes, base64: every API node must share the signing key.
    private const string SigningKey = "bTJtLWRpc3RyaWJ1dGVkLXRlc3Qtc2lnbmluZy1rZXktMQ==";

    private readonly List<NodeProcess> _nodes = [];
    private readonly Dictionary<string, string> _settings;
    private int _writers;

    private Cluster(NatsServerProcess nats, PostgresServerProcess postgres, Dictionary<string, string> settings)
    {
        Nats = nats;
        Postgres = postgres;
        _settings = settings;
    }

    public NatsServerProcess Nats { get; }

    public PostgresServerProcess Postgres { get; }

    public NodeProcess IngestA { get; private set; } = null!;

    public NodeProcess IngestB { get; private set; } = null!;

    public NodeProcess Api { get; private set; } = null!;

    public NodeProcess Writer { get; private set; } = null!;

    public HttpClient Http { get; private set; } = null!;

    /// <summary>Starts the servers, a writer, the API node and both ingest nodes.</summary>
    public static async Task<Cluster> StartAsync(Dictionary<string, string>? settings = null)
    {
        var nats = new NatsServerProcess();
        var postgres = new PostgresServerProcess();
        var cluster = new Cluster(nats, postgres, settings ?? []);
        try
        {
            await Task.WhenAll(nats.StartAsync(), postgres.StartAsync());
            // The API node first: it migrates the schema and creates the admin; then the others in parallel.
            cluster.Api = await cluster.StartNodeAsync("api", "M2M.ApiNode", new()
            {
                ["M2M__Admin__Password"] = AdminPassword,
                ["M2M__Api__SigningKey"] = SigningKey,
            });
            var writer = cluster.StartWriterAsync();
            var a = cluster.StartIngestAsync("ingest-a");
            var b = cluster.StartIngestAsync("ingest-b");
            cluster.Writer = await writer;
            cluster.IngestA = await a;
            cluster.IngestB = await b;
            cluster.Http = await cluster.LoginAsync();
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts another storage writer.</summary>
    public Task<NodeProcess> StartWriterAsync() => StartNodeAsync($"writer-{++_writers}", "M2M.StorageWriter", []);

    /// <summary>Starts an ingest node on free device ports.</summary>
    public Task<NodeProcess> StartIngestAsync(string name) => StartNodeAsync(name, "M2M.IngestNode", new()
    {
        ["M2M__Ingest__NodeName"] = name,
        ["M2M__Ingest__M2mpPort"] = ServerProcess.FreePort().ToString(CultureInfo.InvariantCulture),
        ["M2M__Ingest__AlipPort"] = ServerProcess.FreePort().ToString(CultureInfo.InvariantCulture),
    });

    private async Task<NodeProcess> StartNodeAsync(string name, string project, Dictionary<string, string> own)
    {
        var environment = new Dictionary<string, string>
        {
            ["ConnectionStrings__nats"] = Nats.Url,
            ["ConnectionStrings__m2mdb"] = Postgres.ConnectionString,
            ["M2M__Storage__Backend"] = "postgres",
            // Short enough for the fault tests to see redelivery and expiry within their time.
            ["M2M__Nats__WriterAckWait"] = "00:00:05",
            ["M2M__Nats__PresenceExpiry"] = "00:00:06",
            ["M2M__Ingest__PresenceRefresh"] = "00:00:02",
            ["M2M__Ingest__PresenceLastSeenInterval"] = "00:00:01",
        };
        foreach (var (key, value) in _settings.Concat(own))
        {
            environment[key] = value;
        }
        var node = new NodeProcess(name, project, environment);
        lock (_nodes)
        {
            _nodes.Add(node);
        }
        await node.StartAsync();
        return node;
    }

    private async Task<HttpClient> LoginAsync()
    {
        var http = new HttpClient { BaseAddress = Api.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        var response = await http.PostAsJsonAsync("/api/auth/token", new { user = "admin", password = AdminPassword });
        response.EnsureSuccessStatusCode();
        var token = (string?)(await response.Content.ReadFromJsonAsync<JsonObject>())?["access_token"];
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return http;
    }

    /// <summary>The device of <paramref name="ident"/> as the API shows it.</summary>
    public async Task<JsonObject?> DeviceAsync(string ident)
    {
        var response = await Http.GetAsync($"/api/devices/by-ident/{Uri.EscapeDataString(ident)}");
        return response.IsSuccessStatusCode ? await response.Content.ReadFromJsonAsync<JsonObject>() : null;
    }

    /// <summary>Every record of <paramref name="type"/> the API serves for <paramref name="ident"/>, oldest first.</summary>
    public async Task<List<(DateTimeOffset Time, string Data)>> RecordsAsync(string ident, string type)
    {
        var records = new List<(DateTimeOffset, string)>();
        if (await DeviceAsync(ident) is not { } device)
        {
            return records;
        }
        string? cursor = null;
        do
        {
            var url = $"/api/devices/{device["id"]}/data?type={Uri.EscapeDataString(type)}&order=asc&limit=10000" + (cursor is null ? "" : $"&cursor={Uri.EscapeDataString(cursor)}");
            var page = await Http.GetFromJsonAsync<JsonObject>(url);
            foreach (var item in page!["items"]!.AsArray())
            {
                records.Add((item!["time"]!.GetValue<DateTimeOffset>(), item["data"]!.ToJsonString()));
            }
            cursor = (string?)page["next"];
        }
        while (cursor is not null);
        return records;
    }

    public async ValueTask DisposeAsync()
    {
        Http?.Dispose();
        foreach (var node in _nodes)
        {
            await node.DisposeAsync();
        }
        await Nats.DisposeAsync();
        await Postgres.DisposeAsync();
    }

    /// <summary>Waits for <paramref name="condition"/> with a generous timeout (no fixed sleeps).</summary>
    public static async Task EventuallyAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(120));
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Timed out waiting for: {what}");
            }
            await Task.Delay(200);
        }
    }
}
