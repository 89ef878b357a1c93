using M2M.Storage.Files;
using M2M.Storage.Rocks;
using M2M.Storage.TimeSeries;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace M2M.Storage;

/// <summary>Registers the storage module in a host.</summary>
public static class StorageExtensions
{
    /// <summary>Name of the storage health check.</summary>
    public const string HealthCheckName = "storage";

    /// <summary>
    /// Embedded storage: options from <c>M2M</c> and <c>M2M:Storage:*</c>, the RocksDB database in
    /// <c>&lt;DataDirectory&gt;/db</c>, the time series, the batch writer, the health check, the free
    /// space check of uploads and the sweep of incomplete uploads.
    /// </summary>
    public static TBuilder AddStorage<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddOptions<StorageOptions>()
            .Bind(builder.Configuration.GetSection(StorageOptions.Section))
            .Validate(o => !string.IsNullOrWhiteSpace(o.DataDirectory), "M2M:DataDirectory must not be empty.")
            .ValidateOnStart();
        builder.Services.AddOptions<RocksStoreOptions>().Bind(builder.Configuration.GetSection(RocksStoreOptions.Section));
        builder.Services.AddOptions<StorageSpaceOptions>()
            .Bind(builder.Configuration.GetSection(StorageSpaceOptions.Section))
            .Validate(o => o.ReservedFreeBytes >= 0, "M2M:Storage:ReservedFreeBytes must not be negative.")
            .Validate(o => o.StagedUploadSweepInterval > TimeSpan.Zero, "M2M:Storage:StagedUploadSweepInterval must be positive.")
            .ValidateOnStart();
        builder.Services.AddSingleton<StorageSpace>();
        builder.Services.AddOptions<RecordWriterOptions>().Bind(builder.Configuration.GetSection(RecordWriterSection));

        builder.Services.AddRocksStore();
        builder.Services.AddTimeSeriesStorage();
        builder.Services.AddRegistryStorage();
        builder.Services.AddHostedService<StagedUploadSweeper>();
        return builder;
    }

    /// <summary>Configuration section of <see cref="RecordWriterOptions"/>.</summary>
    public const string RecordWriterSection = "M2M:Storage:Writer";

    /// <summary>
    /// The <see cref="RocksStore"/> singleton, opened on first resolve in <c>&lt;DataDirectory&gt;/db</c>
    /// and disposed (closed) with the container, after the hosted services have stopped.
    /// </summary>
    public static IServiceCollection AddRocksStore(this IServiceCollection services)
    {
        services.AddSingleton(sp => RocksStore.Open(
            Path.Combine(sp.GetRequiredService<IOptions<StorageOptions>>().Value.FullDataDirectory, "db"),
            sp.GetRequiredService<IOptions<RocksStoreOptions>>().Value,
            sp.GetRequiredService<ILoggerFactory>().CreateLogger<RocksStore>()));
        services.AddHealthChecks().AddCheck<StorageHealthCheck>(HealthCheckName);
        return services;
    }

    /// <summary>
    /// <see cref="ITimeSeriesStore"/> on RocksDB and the <see cref="IRecordWriter"/>, run as a hosted
    /// service that drains its queue when the host stops.
    /// </summary>
    public static IServiceCollection AddTimeSeriesStorage(this IServiceCollection services)
    {
        services.AddSingleton<ITimeSeriesStore>(sp => new RocksTimeSeriesStore(sp.GetRequiredService<RocksStore>()));
        services.AddSingleton(sp => new RecordWriter(
            sp.GetRequiredService<ITimeSeriesStore>(),
            sp.GetService<IOptions<RecordWriterOptions>>()?.Value,
            sp.GetService<System.Diagnostics.Metrics.IMeterFactory>(),
            sp.GetService<ILogger<RecordWriter>>()));
        services.AddSingleton<IRecordWriter>(sp => sp.GetRequiredService<RecordWriter>());
        services.AddHostedService(sp => sp.GetRequiredService<RecordWriter>());
        return services;
    }
}
