using M2M.Storage.Files;
using M2M.Storage.Backup;
using M2M.Storage.Forwarding;
using M2M.Storage.Registry;
using M2M.Storage.Rocks.Files;
using M2M.Storage.Rocks.Registry;
using M2M.Storage.TimeSeries;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace M2M.Storage.Rocks;

/// <summary>Registers the RocksDB storage backend in a host.</summary>
public static class RocksStorageExtensions
{
    /// <summary>Name of the RocksDB health check (the database is open).</summary>
    public const string HealthCheckName = "storage-rocks";

    /// <summary>
    /// The embedded backend: options from <c>M2M:Storage:Rocks</c>, the RocksDB database in
    /// <c>&lt;DataDirectory&gt;/db</c>, and on it the <see cref="ITimeSeriesStore"/>, the
    /// <see cref="IRegistry"/> and the <see cref="IFileStore"/>. Goes with <c>AddStorage()</c>, which adds
    /// what every backend shares.
    /// </summary>
    public static TBuilder AddRocksStorage<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddOptions<RocksStoreOptions>().Bind(builder.Configuration.GetSection(RocksStoreOptions.Section))
            .Validate(o => o.MaxTotalWalBytes >= 1 << 20, "M2M:Storage:Rocks:MaxTotalWalBytes must be at least 1 MiB.")
            .ValidateOnStart();
        builder.Services.AddRocksStore();
        builder.Services.AddSingleton<ITimeSeriesStore>(sp => new RocksTimeSeriesStore(sp.GetRequiredService<RocksStore>()));
        builder.Services.AddSingleton<IForwardingFeed>(sp => new RocksForwardingFeed(sp.GetRequiredService<RocksStore>()));
        builder.Services.AddSingleton<IStorageBackup>(sp => new RocksBackup(sp.GetRequiredService<RocksStore>(), sp.GetRequiredService<IOptions<StorageOptions>>().Value.FullDataDirectory, sp.GetService<ILogger<RocksBackup>>()));
        builder.Services.AddRocksRegistry();
        return builder;
    }

    /// <summary>
    /// The <see cref="RocksStore"/> singleton, opened on first resolve in <c>&lt;DataDirectory&gt;/db</c>
    /// and disposed (closed) with the container, after the hosted services have stopped; with its health check.
    /// </summary>
    public static IServiceCollection AddRocksStore(this IServiceCollection services)
    {
        services.AddSingleton(sp => RocksStore.Open(
            Path.Combine(sp.GetRequiredService<IOptions<StorageOptions>>().Value.FullDataDirectory, "db"),
            sp.GetRequiredService<IOptions<RocksStoreOptions>>().Value,
            sp.GetRequiredService<ILoggerFactory>().CreateLogger<RocksStore>()));
        services.AddHealthChecks().AddCheck<RocksHealthCheck>(HealthCheckName);
        return services;
    }

    /// <summary>
    /// <see cref="IRegistry"/> (a <see cref="RocksRegistry"/>) and <see cref="IFileStore"/> over the
    /// <see cref="RocksStore"/> singleton.
    /// </summary>
    public static IServiceCollection AddRocksRegistry(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(sp => new RocksRegistry(sp.GetRequiredService<RocksStore>(), sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton<IRegistry>(sp => sp.GetRequiredService<RocksRegistry>());
        services.TryAddSingleton<IFileStore>(sp => new RocksFileStore(sp.GetRequiredService<RocksRegistry>()));
        return services;
    }
}
