using M2M.Storage.Files;
using M2M.Storage.Lifecycle;
using M2M.Storage.TimeSeries;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace M2M.Storage;

/// <summary>Registers the engine-neutral part of the storage module in a host.</summary>
public static class StorageExtensions
{
    /// <summary>Name of the storage health check.</summary>
    public const string HealthCheckName = "storage";

    /// <summary>Configuration section of <see cref="RecordWriterOptions"/>.</summary>
    public const string RecordWriterSection = "M2M:Storage:Writer";

    /// <summary>
    /// What every storage backend shares: options from <c>M2M</c>, <c>M2M:Storage</c> and
    /// <c>M2M:Storage:Writer</c>, the batch writer over the <see cref="ITimeSeriesStore"/>, the entity
    /// stores over the registry, the start-up that ensures the default domain, the health check, the
    /// free-space check of uploads and the sweep of incomplete uploads. The backend itself (the
    /// <see cref="ITimeSeriesStore"/>, <c>IRegistry</c> and <c>IFileStore</c>) is added beside it, e.g. by
    /// <c>AddRocksStorage()</c>; the server picks it by <see cref="StorageOptions.BackendKey"/>.
    /// </summary>
    public static TBuilder AddStorage<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddOptions<StorageOptions>()
            .Bind(builder.Configuration.GetSection(StorageOptions.Section))
            .Validate(o => !string.IsNullOrWhiteSpace(o.DataDirectory), "M2M:DataDirectory must not be empty.")
            .ValidateOnStart();
        builder.Services.AddOptions<StorageSpaceOptions>()
            .Bind(builder.Configuration.GetSection(StorageSpaceOptions.Section))
            .Validate(o => o.ReservedFreeBytes >= 0, "M2M:Storage:ReservedFreeBytes must not be negative.")
            .Validate(o => o.StagedUploadSweepInterval > TimeSpan.Zero, "M2M:Storage:StagedUploadSweepInterval must be positive.")
            .ValidateOnStart();
        builder.Services.AddSingleton<StorageSpace>();
        builder.Services.AddOptions<RecordWriterOptions>().Bind(builder.Configuration.GetSection(RecordWriterSection));

        builder.Services.AddOptions<RetentionOptions>()
            .Bind(builder.Configuration.GetSection(RetentionOptions.Section))
            .Validate(o => o.Months is null or >= 1 and <= Entities.IDomainStore.MaxRetentionMonths, "M2M:Storage:Retention:Months must be 1 to 1200 (or unset: keep everything).")
            .Validate(o => o.Interval >= MinInterval && o.Interval <= MaxInterval, "M2M:Storage:Retention:Interval must be 1 second to 24 days.")
            .Validate(o => o.MaxSeriesPerRun >= 1, "M2M:Storage:Retention:MaxSeriesPerRun must be positive.")
            .ValidateOnStart();
        builder.Services.AddOptions<CleanupOptions>()
            .Bind(builder.Configuration.GetSection(CleanupOptions.Section))
            .Validate(o => o.GracePeriod >= TimeSpan.Zero, "M2M:Storage:Cleanup:GracePeriod must not be negative.")
            .Validate(o => o.Interval >= MinInterval && o.Interval <= MaxInterval, "M2M:Storage:Cleanup:Interval must be 1 second to 24 days.")
            .ValidateOnStart();

        builder.Services.AddRecordWriter();
        builder.Services.AddEntityStores();
        builder.Services.AddStorageMaintenance();
        builder.Services.AddHostedService<StagedUploadSweeper>();
        builder.Services.AddHealthChecks().AddCheck<StorageHealthCheck>(HealthCheckName);
        return builder;
    }

    private static readonly TimeSpan MinInterval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxInterval = TimeSpan.FromDays(24);

    /// <summary>
    /// The maintenance of the storage over the registered backend: <see cref="RetentionJob"/>,
    /// <see cref="CleanupJob"/>, <see cref="DeviceDeletions"/> and the hosted service that runs them on
    /// schedule (options <see cref="RetentionOptions"/> and <see cref="CleanupOptions"/>).
    /// </summary>
    public static IServiceCollection AddStorageMaintenance(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(sp => new MaintenanceMetrics(sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.TryAddSingleton(sp => new DeviceDeletions(
            sp.GetRequiredService<Entities.IDeviceStore>(), sp.GetRequiredService<Registry.IRegistry>(), sp.GetRequiredService<ITimeSeriesStore>(),
            sp.GetRequiredService<MaintenanceMetrics>(), sp.GetRequiredService<TimeProvider>(), sp.GetService<ILogger<DeviceDeletions>>()));
        services.TryAddSingleton(sp => new RetentionJob(
            sp.GetRequiredService<ITimeSeriesStore>(), sp.GetRequiredService<Entities.IDomainStore>(), sp.GetRequiredService<Registry.IRegistry>(),
            sp.GetService<IOptions<RetentionOptions>>()?.Value ?? new RetentionOptions(), sp.GetRequiredService<MaintenanceMetrics>(),
            sp.GetRequiredService<TimeProvider>(), sp.GetService<ILogger<RetentionJob>>()));
        services.TryAddSingleton(sp => new CleanupJob(
            sp.GetRequiredService<Registry.IRegistry>(), sp.GetRequiredService<DeviceDeletions>(),
            sp.GetService<IOptions<CleanupOptions>>()?.Value ?? new CleanupOptions(), sp.GetRequiredService<MaintenanceMetrics>(),
            sp.GetRequiredService<TimeProvider>(), sp.GetService<ILogger<CleanupJob>>()));
        services.AddHostedService<MaintenanceService>();
        return services;
    }

    /// <summary>
    /// The <see cref="IRecordWriter"/> over the registered <see cref="ITimeSeriesStore"/>, run as a
    /// hosted service that drains its queue when the host stops.
    /// </summary>
    public static IServiceCollection AddRecordWriter(this IServiceCollection services)
    {
        services.AddSingleton(sp => new RecordWriter(
            sp.GetRequiredService<ITimeSeriesStore>(),
            sp.GetService<IOptions<RecordWriterOptions>>()?.Value,
            sp.GetService<System.Diagnostics.Metrics.IMeterFactory>(),
            sp.GetService<ILogger<RecordWriter>>(),
            sp.GetService<Forwarding.IFeedRouter>()));
        services.AddSingleton<IRecordWriter>(sp => sp.GetRequiredService<RecordWriter>());
        services.AddHostedService(sp => sp.GetRequiredService<RecordWriter>());
        return services;
    }
}
