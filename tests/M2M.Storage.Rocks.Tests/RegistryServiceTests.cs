using M2M.Storage.Entities;
using M2M.Storage.Files;
using M2M.Storage.Registry;
using M2M.Storage.Rocks.Files;
using M2M.Storage.Rocks.Registry;
using M2M.Testing;
using Microsoft.Extensions.Hosting;

namespace M2M.Storage.Rocks.Tests;

public sealed class RegistryServiceTests
{
    [Fact]
    public async Task AddRocksRegistry_and_AddEntityStores_register_every_store_as_a_singleton_and_ensure_the_default_domain_at_start()
    {
        using var directory = new TempDirectory("m2m-registry-di");
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton(_ => RocksStore.Open(directory.Path, new RocksStoreOptions { Durability = Durability.ProcessCrash }));
        services.AddRocksRegistry();
        services.AddEntityStores();
        await using var provider = services.BuildServiceProvider();

        Assert.Same(provider.GetRequiredService<IRegistry>(), provider.GetRequiredService<IRegistry>());
        Assert.IsType<RocksRegistry>(provider.GetRequiredService<IRegistry>());
        Assert.IsType<RocksFileStore>(provider.GetRequiredService<IFileStore>());
        Assert.NotNull(provider.GetRequiredService<IFirmwareStore>());
        Assert.NotNull(provider.GetRequiredService<IUserStore>());
        Assert.Same(provider.GetRequiredService<IDeviceStore>(), provider.GetRequiredService<IDeviceStore>());

        foreach (var hosted in provider.GetServices<IHostedService>())
        {
            await hosted.StartAsync(TestContext.Current.CancellationToken);
        }

        Assert.NotNull(await provider.GetRequiredService<IDomainStore>().GetByNameAsync("default", TestContext.Current.CancellationToken));
    }
}
