using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using M2M.Testing;

namespace M2M.Storage.Postgres.Tests;

/// <summary>
/// A real <c>M2M.Server</c> process (<see cref="ChildServer"/>) on PostgreSQL (<c>M2M:Storage:Backend=postgres</c>),
/// on free loopback ports, with its own data directory (keys only: the data is in the database). Killed (SIGKILL) on dispose.
/// </summary>
public sealed class ServerProcess : IAsyncDisposable
{
    public const string AdminPassword = "admin-secret-42";

    private readonly ChildServer _server;
    private readonly TempDirectory _data;

    private ServerProcess(ChildServer server, TempDirectory data)
    {
        _server = server;
        _data = data;
        Http = new HttpClient { BaseAddress = server.Http };
    }

    public HttpClient Http { get; }

    public bool HasExited => _server.HasExited;

    /// <summary>What the process printed (for failure messages).</summary>
    public string Output => _server.LogText;

    /// <summary>Starts the server (its listeners bound); <see cref="WaitReadyAsync"/> tells when it serves.</summary>
    public static async Task<ServerProcess> StartAsync(string connectionString, string schema = "m2m", TempDirectory? data = null)
    {
        data ??= new TempDirectory("m2m-pg-server");
        var server = await ChildServer.StartAsync(
        [
            "--urls", "http://127.0.0.1:0", "--M2M:DataDirectory", data.Path,
            "--M2M:Ingest:M2mpPort", "0", "--M2M:Ingest:AlipPort", "0",
            "--M2M:Storage:Backend", "postgres", "--ConnectionStrings:m2mdb", connectionString, "--M2M:Storage:Postgres:Schema", schema,
            "--M2M:Admin:Password", AdminPassword, "--M2M:Api:LoginAttemptsPerAddress", "100000",
            "--Logging:LogLevel:Default", "Warning",
        ]);
        return new ServerProcess(server, data);
    }

    /// <summary>Waits until <c>/health</c> answers 200 (every check healthy, the schema migrated).</summary>
    public async Task WaitReadyAsync()
    {
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (true)
        {
            if (_server.HasExited)
            {
                Assert.Fail($"The server exited:\n{Output}");
            }
            try
            {
                using var response = await Http.GetAsync("/health", TestContext.Current.CancellationToken);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"The server did not become healthy in time:\n{Output}");
            }
            await Task.Delay(200, TestContext.Current.CancellationToken);
        }
    }

    /// <summary>A client with an administrator's token of this server.</summary>
    public async Task<HttpClient> LoginAsync()
    {
        using var response = await Http.PostAsJsonAsync("/api/auth/token", new { user = "admin", password = AdminPassword }, TestContext.Current.CancellationToken);
        response.EnsureSuccessStatusCode();
        var token = (await response.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken)).GetProperty("access_token").GetString();
        var client = new HttpClient { BaseAddress = Http.BaseAddress };
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    /// <summary>Connects a device over ALIP.</summary>
    public async Task<AlipDevice> ConnectAlipAsync()
    {
        var client = new TcpClient();
        await client.ConnectAsync(_server.Alip, TestContext.Current.CancellationToken);
        return new AlipDevice(client);
    }

    /// <summary>The equivalent of <c>kill -9</c>: no drain, no dispose.</summary>
    public Task KillAsync() => _server.KillAsync();

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _server.DisposeAsync();
        _data.Dispose();
    }
}
