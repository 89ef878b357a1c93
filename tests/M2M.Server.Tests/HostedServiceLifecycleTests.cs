using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Hosting;
using M2M.Storage.Rocks;
using M2M.Testing;

namespace M2M.Server.Tests;

/// <summary>
/// Every hosted service of the single-process server can be stopped and disposed whatever its start
/// did: never called (a service before it failed), thrown halfway, or done. The host stops all of its
/// services after a failed start, those that never started included, and disposes them afterwards.
/// </summary>
public sealed class HostedServiceLifecycleTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static WebApplication Build(TempDirectory data, params string[] extra) => M2MServer.Build(
    [
        "--urls", "http://127.0.0.1:0",
        "--M2M:DataDirectory", data.Path,
        "--M2M:Ingest:M2mpPort", "0",
        "--M2M:Ingest:AlipPort", "0",
        "--Logging:LogLevel:Default", "Warning",
        .. extra,
    ]);

    [Fact]
    public async Task Every_hosted_service_stops_and_disposes_when_it_never_started()
    {
        using var data = new TempDirectory("m2m-lifecycle");
        var app = Build(data);
        var services = app.Services.GetServices<IHostedService>().ToList();

        foreach (var service in Enumerable.Reverse(services))
        {
            await service.StopAsync(Ct);
        }
        await app.DisposeAsync();

        AssertDatabaseClosed(data);
    }

    [Fact]
    public async Task Every_hosted_service_disposes_without_a_start_or_a_stop()
    {
        using var data = new TempDirectory("m2m-lifecycle");
        var app = Build(data);
        _ = app.Services.GetServices<IHostedService>().ToList();

        await app.DisposeAsync();

        AssertDatabaseClosed(data);
    }

    [Fact]
    public async Task Every_hosted_service_stops_and_disposes_after_the_services_before_it_started()
    {
        using var data = new TempDirectory("m2m-lifecycle");
        var count = CountHostedServices(data);
        for (var started = 1; started < count; started++)
        {
            var app = Build(data);
            var services = app.Services.GetServices<IHostedService>().ToList();
            foreach (var service in services.Take(started))
            {
                await service.StartAsync(Ct);
            }

            foreach (var service in Enumerable.Reverse(services))
            {
                await service.StopAsync(Ct);
            }
            await app.DisposeAsync();

            AssertDatabaseClosed(data);
        }
    }

    [Fact]
    public async Task Every_hosted_service_stops_twice_and_disposes_twice_after_a_full_start()
    {
        using var data = new TempDirectory("m2m-lifecycle");
        var app = Build(data);
        await app.StartAsync(Ct);
        var services = app.Services.GetServices<IHostedService>().ToList();

        await app.StopAsync(Ct);
        foreach (var service in Enumerable.Reverse(services))
        {
            await service.StopAsync(Ct);
        }
        foreach (var service in Enumerable.Reverse(services))
        {
            await DisposeAsync(service);
        }
        await app.DisposeAsync();
        foreach (var service in Enumerable.Reverse(services))
        {
            await DisposeAsync(service);
        }

        AssertDatabaseClosed(data);
    }

    private static int CountHostedServices(TempDirectory data)
    {
        var app = Build(data);
        var count = app.Services.GetServices<IHostedService>().Count();
        app.DisposeAsync().AsTask().GetAwaiter().GetResult();
        return count;
    }

    private static async ValueTask DisposeAsync(IHostedService service)
    {
        switch (service)
        {
            case IAsyncDisposable asyncDisposable:
                await asyncDisposable.DisposeAsync();
                break;
            case IDisposable disposable:
                disposable.Dispose();
                break;
        }
    }

    /// <summary>RocksDB refuses a second open of a database this process holds: opening it proves the host closed it.</summary>
    private static void AssertDatabaseClosed(TempDirectory data)
    {
        var db = Path.Combine(data.Path, "db");
        if (Directory.Exists(db))
        {
            RocksStore.Open(db).Dispose();
        }
    }
}
