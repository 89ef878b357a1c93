using M2M.Storage.Entities;
using M2M.Storage.Files;
using M2M.Storage.Registry;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

// DI extensions live in the DI namespace (the ASP.NET Core convention), so hosts need no extra using.
namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the entity stores over the <see cref="IRegistry"/> and <see cref="IFileStore"/> a backend provides.</summary>
public static class EntityStoreExtensions
{
    /// <summary>
    /// Adds <see cref="IFirmwareStore"/>, <see cref="IDomainStore"/>, <see cref="IUserStore"/>,
    /// <see cref="IDeviceStore"/>, <see cref="IDeviceAuthStore"/>, <see cref="IApiKeyStore"/> and
    /// <see cref="IRefreshTokenStore"/> as singletons over the registered <see cref="IRegistry"/> and
    /// <see cref="IFileStore"/>, and a hosted service that ensures the <c>default</c> domain at start.
    /// </summary>
    public static IServiceCollection AddEntityStores(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IFirmwareStore>(sp => new FirmwareStore(sp.GetRequiredService<IRegistry>(), sp.GetRequiredService<IFileStore>(), sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton<IDomainStore>(sp => new DomainStore(sp.GetRequiredService<IRegistry>(), sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton<IUserStore>(sp => new UserStore(sp.GetRequiredService<IRegistry>(), sp.GetRequiredService<IDomainStore>(), sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton<IDeviceStore>(sp => new DeviceStore(sp.GetRequiredService<IRegistry>(), sp.GetRequiredService<IDomainStore>(), sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton<IDeviceAuthStore>(sp => new DeviceAuthStore(sp.GetRequiredService<IRegistry>(), sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton<IApiKeyStore>(sp => new ApiKeyStore(sp.GetRequiredService<IRegistry>(), sp.GetRequiredService<IDomainStore>(), sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton<IRefreshTokenStore>(sp => new RefreshTokenStore(sp.GetRequiredService<IRegistry>()));
        services.AddHostedService<RegistryStartup>();
        return services;
    }

    /// <summary>
    /// Ensures the <c>default</c> domain when the host starts. Without a registered <see cref="IRegistry"/>
    /// (a host composed without a storage backend) it only logs: the stores would fail on first use anyway.
    /// </summary>
    private sealed class RegistryStartup(IServiceProvider services, IServiceProviderIsService isService, ILogger<RegistryStartup> logger) : IHostedService
    {
        public async Task StartAsync(CancellationToken cancellationToken)
        {
            if (!isService.IsService(typeof(IRegistry)))
            {
                logger.LogWarning("No storage backend registers an IRegistry: the default domain was not ensured at start.");
                return;
            }
            await services.GetRequiredService<IDomainStore>().EnsureDefaultAsync(cancellationToken).ConfigureAwait(false);
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
