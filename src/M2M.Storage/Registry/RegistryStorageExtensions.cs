using M2M.Storage.Entities;
using M2M.Storage.Files;
using M2M.Storage.Registry;
using M2M.Storage.Rocks;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

// DI extensions live in the DI namespace (the ASP.NET Core convention), so hosts need no extra using.
namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the registry, files and entity stores (RocksDB backend) over the <see cref="RocksStore"/> singleton.</summary>
public static class RegistryStorageExtensions
{
    /// <summary>
    /// Adds <see cref="IRegistry"/>, <see cref="IFileStore"/>, <see cref="UploadStaging"/>, <see cref="IFirmwareStore"/>,
    /// <see cref="IDomainStore"/>, <see cref="IUserStore"/> and <see cref="IDeviceStore"/> as singletons,
    /// and a hosted service that ensures the <c>default</c> domain at start.
    /// </summary>
    public static IServiceCollection AddRegistryStorage(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(sp => new RocksRegistry(sp.GetRequiredService<RocksStore>(), sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton<IRegistry>(sp => sp.GetRequiredService<RocksRegistry>());
        services.TryAddSingleton<IFileStore>(sp => new RocksFileStore(sp.GetRequiredService<RocksRegistry>()));
        services.TryAddSingleton(sp => new UploadStaging(sp.GetRequiredService<IRegistry>(), sp.GetService<ILogger<UploadStaging>>()));
        services.TryAddSingleton<IFirmwareStore>(sp => new FirmwareStore(
            sp.GetRequiredService<IRegistry>(), sp.GetRequiredService<IFileStore>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<UploadStaging>()));
        services.TryAddSingleton<IDomainStore>(sp => new DomainStore(sp.GetRequiredService<IRegistry>(), sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton<IUserStore>(sp => new UserStore(sp.GetRequiredService<IRegistry>(), sp.GetRequiredService<IDomainStore>(), sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton<IDeviceStore>(sp => new DeviceStore(sp.GetRequiredService<IRegistry>(), sp.GetRequiredService<IDomainStore>(), sp.GetRequiredService<TimeProvider>()));
        services.AddHostedService<RegistryStartup>();
        return services;
    }

    /// <summary>
    /// Ensures the <c>default</c> domain when the host starts. Without a registered <see cref="RocksStore"/>
    /// (a host composed without the embedded database) it only logs: the stores would fail on first use anyway.
    /// </summary>
    private sealed class RegistryStartup(IServiceProvider services, IServiceProviderIsService isService, ILogger<RegistryStartup> logger) : IHostedService
    {
        public async Task StartAsync(CancellationToken cancellationToken)
        {
            if (!isService.IsService(typeof(RocksStore)))
            {
                logger.LogWarning("No RocksStore is registered: the default domain was not ensured at start.");
                return;
            }
            await services.GetRequiredService<IDomainStore>().EnsureDefaultAsync(cancellationToken).ConfigureAwait(false);
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
