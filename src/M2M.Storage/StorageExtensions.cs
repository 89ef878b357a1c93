using M2M.Storage.TimeSeries;
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
    /// What every storage backend shares: options from <c>M2M</c> and <c>M2M:Storage:Writer</c>, the
    /// batch writer over the <see cref="ITimeSeriesStore"/>, the entity stores over the registry, the
    /// start-up that ensures the default domain, and the health check. The backend itself (the
    /// <see cref="ITimeSeriesStore"/>, <c>IRegistry</c> and <c>IFileStore</c>) is added beside it, e.g. by
    /// <c>AddRocksStorage()</c>; the server picks it by <see cref="StorageOptions.BackendKey"/>.
    /// </summary>
    public static TBuilder AddStorage<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddOptions<StorageOptions>()
            .Bind(builder.Configuration.GetSection(StorageOptions.Section))
            .Validate(o => !string.IsNullOrWhiteSpace(o.DataDirectory), "M2M:DataDirectory must not be empty.")
            .ValidateOnStart();
        builder.Services.AddOptions<RecordWriterOptions>().Bind(builder.Configuration.GetSection(RecordWriterSection));

        builder.Services.AddRecordWriter();
        builder.Services.AddEntityStores();
        builder.Services.AddHealthChecks().AddCheck<StorageHealthCheck>(HealthCheckName);
        return builder;
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
