using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Net.Http.Json;
using System.Text.Json;
using M2M.Api;
using M2M.Api.Apis;
using M2M.Api.Auth;
using M2M.Server;
using M2M.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace M2M.Api.Tests;

/// <summary>
/// The real single-process server (<see cref="M2MServer"/>) started on a free loopback port with a
/// fresh on-disk data directory and a known administrator password.
/// </summary>
public sealed class ApiHost : IAsyncDisposable
{
    public const string AdminPassword = "admin-secret-42";

    private readonly TempDirectory _data;
    private readonly bool _ownsData;

    private ApiHost(WebApplication app, TempDirectory data, bool ownsData, Uri address)
    {
        _ownsData = ownsData;
        App = app;
        _data = data;
        Address = address;
        Anonymous = new HttpClient { BaseAddress = address };
    }

    public WebApplication App { get; }

    public Uri Address { get; }

    public string DataDirectory => _data.Path;

    /// <summary>A client without a token.</summary>
    public HttpClient Anonymous { get; }

    public T Get<T>() where T : notnull => App.Services.GetRequiredService<T>();

    public static async Task<ApiHost> StartAsync(params string[] extraArgs)
    {
        var data = new TempDirectory("m2m-api");
        try
        {
            return await StartAsync(data, ownsData: true, extraArgs);
        }
        catch
        {
            TestBackend.Release(data.Path);
            data.Dispose();
            throw;
        }
    }

    /// <summary>Starts a server on an existing data directory (e.g. to restart on the same data); the directory is left in place.</summary>
    public static Task<ApiHost> StartAsync(TempDirectory data, params string[] extraArgs) => StartAsync(data, ownsData: false, extraArgs);

    /// <summary>Starts a server on an existing data directory with its services changed by <paramref name="configure"/> (fault injection).</summary>
    public static Task<ApiHost> StartAsync(TempDirectory data, Action<WebApplicationBuilder>? configure, params string[] extraArgs) =>
        StartAsync(data, ownsData: false, extraArgs, configure);

    private static async Task<ApiHost> StartAsync(TempDirectory data, bool ownsData, string[] extraArgs, Action<WebApplicationBuilder>? configure = null)
    {
        string[] args =
        [
            "--urls", "http://127.0.0.1:0",
            "--M2M:DataDirectory", data.Path,
            "--M2M:Ingest:M2mpPort", "0",
            "--M2M:Ingest:AlipPort", "0",
            "--M2M:Admin:Password", AdminPassword,
            "--M2M:Api:LoginAddressFreeFailures", "100000",
            "--Logging:LogLevel:Default", "Warning",
            .. TestBackend.Arguments(data.Path),
            .. extraArgs,
        ];
        var app = M2MServer.Build(args, configure);
        try
        {
            await app.StartAsync(TestContext.Current.CancellationToken);
        }
        catch
        {
            // A refused start (some tests expect one): what it began stops, then the database closes.
            await HostRunner.ReleaseAfterFailedStartAsync(app);
            throw;
        }
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new ApiHost(app, data, ownsData, new Uri(address));
    }

    /// <summary>A client with a token of <paramref name="user"/>.</summary>
    public async Task<HttpClient> LoginAsync(string user = "admin", string password = AdminPassword)
    {
        var response = await Anonymous.PostAsJsonAsync("/api/auth/token", new { user, password }, TestContext.Current.CancellationToken);
        response.EnsureSuccessStatusCode();
        var token = await response.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken);
        return WithToken(token.GetProperty("access_token").GetString()!);
    }

    /// <summary>
    /// A client without a token whose connections leave from <paramref name="localAddress"/> (any
    /// 127.x.y.z works on Linux loopback), so the server sees another client address.
    /// </summary>
    public HttpClient ClientFrom(string localAddress)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (context, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    socket.Bind(new IPEndPoint(IPAddress.Parse(localAddress), 0));
                    await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        return new HttpClient(handler) { BaseAddress = Address };
    }

    public HttpClient WithToken(string token)
    {
        var client = new HttpClient { BaseAddress = Address, Timeout = TimeSpan.FromMinutes(5) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    /// <summary>Creates a domain and a user of role <c>user</c> in it, and returns a client of that user.</summary>
    public async Task<(HttpClient Client, string Domain)> NewDomainUserAsync(HttpClient admin, string? domain = null)
    {
        domain ??= "d" + Guid.NewGuid().ToString("N")[..10];
        var user = "u" + Guid.NewGuid().ToString("N")[..10];
        (await admin.PostAsJsonAsync("/api/domains", new { name = domain }, TestContext.Current.CancellationToken)).EnsureSuccessStatusCode();
        (await admin.PostAsJsonAsync("/api/users", new { name = user, password = "password-" + user, domain }, TestContext.Current.CancellationToken)).EnsureSuccessStatusCode();
        return (await LoginAsync(user, "password-" + user), domain);
    }

    public async ValueTask DisposeAsync()
    {
        Anonymous.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
        if (_ownsData)
        {
            TestBackend.Release(_data.Path);
            _data.Dispose();
        }
    }
}

/// <summary>One started server shared by the tests of a collection (each test makes its own names).</summary>
public sealed class ApiFixture : IAsyncLifetime
{
    private ApiHost? _host;
    private HttpClient? _admin;

    public ApiHost Host => _host ?? throw new InvalidOperationException("Not started.");

    /// <summary>A client of the first administrator.</summary>
    public HttpClient Admin => _admin ?? throw new InvalidOperationException("Not started.");

    public async ValueTask InitializeAsync()
    {
        _host = await ApiHost.StartAsync();
        _admin = await _host.LoginAsync();
    }

    public async ValueTask DisposeAsync()
    {
        _admin?.Dispose();
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }
    }
}

[CollectionDefinition(Name)]
public sealed class ApiCollection : ICollectionFixture<ApiFixture>
{
    public const string Name = "api";
}

/// <summary>Helpers for reading answers.</summary>
public static class Http
{
    public static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static async Task<JsonElement> JsonAsync(this HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync(Ct);
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    /// <summary>Asserts a problem document with <paramref name="status"/>; returns it.</summary>
    public static async Task<JsonElement> AssertProblemAsync(this HttpResponseMessage response, int status, string? field = null)
    {
        var body = await response.Content.ReadAsStringAsync(Ct);
        Assert.True((int)response.StatusCode == status, $"expected {status}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(body).RootElement.Clone();
        Assert.Equal(status, problem.GetProperty("status").GetInt32());
        if (field is not null)
        {
            Assert.True(problem.TryGetProperty("errors", out var errors) && errors.TryGetProperty(field, out _), $"field '{field}' not named in {body}");
        }
        return problem;
    }

    public static StringContent RawJson(string json) => new(json, System.Text.Encoding.UTF8, "application/json");

    /// <summary>
    /// Reads until <paramref name="done"/> holds (what another task or an eventually consistent view
    /// does in its own time); fails after 30 seconds with the last answer.
    /// </summary>
    public static async Task<JsonElement> PollAsync(Func<Task<JsonElement>> read, Func<JsonElement, bool> done, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        JsonElement last;
        do
        {
            last = await read();
            if (done(last))
            {
                return last;
            }
            await Task.Delay(50, Ct);
        }
        while (DateTime.UtcNow < deadline);
        Assert.Fail($"{what} never happened; last: {last}");
        return last;
    }
}
