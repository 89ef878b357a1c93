using M2M.Storage.Rocks;
using M2M.Testing;
using Microsoft.Extensions.Hosting;

namespace M2M.Messaging.Nats.Tests;

/// <summary>
/// Every hosted service of a NATS node (the bus of an ingest or API node, a storage writer) can be
/// stopped and disposed whatever its start did: never called (a service before it failed), or called
/// for the services before it only. A host stops all of its services after a failed start.
/// </summary>
public sealed class HostedServiceLifecycleTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static TheoryData<string> Nodes => ["bus", "writer"];

    [Theory]
    [MemberData(nameof(Nodes))]
    public async Task Every_hosted_service_stops_and_disposes_when_it_never_started(string node)
    {
        using var data = new TempDirectory("m2m-nats-lifecycle");
        using var store = RocksStore.Open(Path.Combine(data.Path, "db"));
        var host = Build(node, store);
        var services = host.Services.GetServices<IHostedService>().ToList();

        foreach (var service in Enumerable.Reverse(services))
        {
            await service.StopAsync(Ct);
        }
        await ((IAsyncDisposable)host).DisposeAsync();
    }

    [Theory]
    [MemberData(nameof(Nodes))]
    public async Task Every_hosted_service_stops_and_disposes_after_the_services_before_it_started(string node)
    {
        using var data = new TempDirectory("m2m-nats-lifecycle");
        using var store = RocksStore.Open(Path.Combine(data.Path, "db"));
        var counted = Build(node, store);
        var count = counted.Services.GetServices<IHostedService>().Count();
        await ((IAsyncDisposable)counted).DisposeAsync();
        for (var started = 1; started <= count; started++)
        {
            var host = Build(node, store);
            var services = host.Services.GetServices<IHostedService>().ToList();
            foreach (var service in services.Take(started))
            {
                await service.StartAsync(Ct);
            }

            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            foreach (var service in Enumerable.Reverse(services))
            {
                await service.StopAsync(timeout.Token);
            }
            await ((IAsyncDisposable)host).DisposeAsync();
        }
    }

    private static IHost Build(string node, RocksStore store) => node == "bus"
        ? NatsNode.BuildBus(NatsNode.Url, NatsNode.NewPrefix())
        : NatsNode.BuildWriter(NatsNode.Url, NatsNode.NewPrefix(), new RocksTimeSeriesStore(store));
}
