using Microsoft.AspNetCore.Builder;
using M2M.Testing;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace M2M.Server.Tests;

/// <summary>
/// A real <see cref="M2MServer"/> started on a free loopback port with its own data directory.
/// </summary>
public sealed class ServerHost : IAsyncDisposable
{
    private readonly TempDirectory _data;

    private ServerHost(WebApplication app, TempDirectory data, Uri address)
    {
        App = app;
        _data = data;
        Address = address;
        Http = new HttpClient { BaseAddress = address };
    }

    public WebApplication App { get; }

    public Uri Address { get; }

    public HttpClient Http { get; }

    public string DataDirectory => _data.Path;

    public static async Task<ServerHost> StartAsync(params string[] extraArgs)
    {
        var data = new TempDirectory("m2m-server");
        // Device listeners on free ports too: tests run in parallel, and a real server may hold 3010/3050.
        string[] args =
        [
            "--urls", "http://127.0.0.1:0", "--M2M:DataDirectory", data.Path,
            "--M2M:Ingest:M2mpPort", "0", "--M2M:Ingest:AlipPort", "0", .. extraArgs,
        ];
        var app = M2MServer.Build(args);
        try
        {
            await app.StartAsync(TestContext.Current.CancellationToken);
        }
        catch
        {
            // A refused start: what it began stops, the database closes, the data directory goes.
            await HostRunner.ReleaseAfterFailedStartAsync(app);
            data.Dispose();
            throw;
        }
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new ServerHost(app, data, new Uri(address));
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
        _data.Dispose();
    }
}
