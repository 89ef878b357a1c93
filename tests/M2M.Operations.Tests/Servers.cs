using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using M2M.Ingest.Hosting;
using M2M.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace M2M.Operations.Tests;

/// <summary>A started server: its HTTP address and ALIP listener.</summary>
public interface IStartedServer : IAsyncDisposable
{
    Uri Http { get; }

    IPEndPoint Alip { get; }
}

/// <summary>Arguments every test server gets: free ports, a known admin password, quick forwarding retries.</summary>
public static class ServerArgs
{
    public const string AdminPassword = "forwarding-admin-42";

    public static string[] For(string dataDirectory, params string[] extra) =>
    [
        "--urls", "http://127.0.0.1:0",
        "--M2M:DataDirectory", dataDirectory,
        "--M2M:Ingest:M2mpPort", "0",
        "--M2M:Ingest:AlipPort", "0",
        "--M2M:Admin:Password", AdminPassword,
        "--M2M:Forwarding:MinRetryDelay", "00:00:00.100",
        "--M2M:Forwarding:MaxRetryDelay", "00:00:01",
        "--M2M:Forwarding:PollInterval", "00:00:00.050",
        "--M2M:Forwarding:TrimInterval", "00:00:01",
        "--Logging:LogLevel:Default", "Warning",
        "--Logging:LogLevel:Microsoft.Hosting.Lifetime", "Information",
        "--Logging:LogLevel:M2M.Ingest.Hosting", "Information",
        .. extra,
    ];
}

/// <summary>The real single-process server, in this process.</summary>
public sealed class InProcessServer : IStartedServer
{
    private InProcessServer(WebApplication app, Uri http, IPEndPoint alip)
    {
        App = app;
        Http = http;
        Alip = alip;
    }

    public WebApplication App { get; }

    public Uri Http { get; }

    public IPEndPoint Alip { get; }

    public static async Task<InProcessServer> StartAsync(string dataDirectory, params string[] extra)
    {
        var app = M2MServer.Build(ServerArgs.For(dataDirectory, extra));
        var endpoints = app.Services.GetRequiredService<IngestEndpoints>();
        try
        {
            await app.StartAsync(TestContext.Current.CancellationToken);
            await endpoints.Started.WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
        }
        catch
        {
            // A refused start (some tests expect one): what it began stops, then the database closes.
            await HostRunner.ReleaseAfterFailedStartAsync(app);
            throw;
        }
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new InProcessServer(app, new Uri(address), new IPEndPoint(IPAddress.Loopback, endpoints.Alip!.Port));
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync(CancellationToken.None);
        await App.DisposeAsync();
    }
}

/// <summary>The server executable as a child process (<see cref="M2M.Testing.ChildServer"/>), so a test can kill it with SIGKILL.</summary>
public sealed class ChildServer : IStartedServer
{
    private readonly M2M.Testing.ChildServer _server;

    private ChildServer(M2M.Testing.ChildServer server) => _server = server;

    public Uri Http => _server.Http;

    public IPEndPoint Alip => _server.Alip;

    public string Log => _server.LogText;

    public static async Task<ChildServer> StartAsync(string dataDirectory, params string[] extra) =>
        new(await M2M.Testing.ChildServer.StartAsync(ServerArgs.For(dataDirectory, extra), dataDirectory));

    /// <summary>SIGKILL: no shutdown code runs.</summary>
    public Task KillAsync() => _server.KillAsync();

    public ValueTask DisposeAsync() => _server.DisposeAsync();
}

/// <summary>An HTTP client signed in to a started server.</summary>
public static class Api
{
    public static async Task<HttpClient> SignInAsync(Uri server, string user = "admin", string password = ServerArgs.AdminPassword)
    {
        var client = new HttpClient { BaseAddress = server, Timeout = TimeSpan.FromSeconds(60) };
        var response = await client.PostAsJsonAsync("/api/auth/token", new { user, password }, TestContext.Current.CancellationToken);
        response.EnsureSuccessStatusCode();
        var token = (await response.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken)).GetProperty("access_token").GetString();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    /// <summary>Creates a webhook; returns its id and secret.</summary>
    public static async Task<(Guid Id, string Secret)> CreateWebhookAsync(HttpClient client, Uri url, string? domain = null, bool records = true, bool events = false)
    {
        var response = await client.PostAsJsonAsync("/api/webhooks", new { name = "test", url = url.AbsoluteUri, domain, records, events }, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var created = await response.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken);
        return (created.GetProperty("webhook").GetProperty("id").GetGuid(), created.GetProperty("secret").GetString()!);
    }

    public static async Task<JsonElement> GetAsync(HttpClient client, string path)
    {
        var response = await client.GetAsync(path, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken);
    }
}
