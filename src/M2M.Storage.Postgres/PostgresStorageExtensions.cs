using M2M.Storage.Files;
using M2M.Storage.Postgres.Files;
using M2M.Storage.Postgres.Registry;
using M2M.Storage.Postgres.TimeSeries;
using M2M.Storage.Registry;
using M2M.Storage.TimeSeries;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace M2M.Storage.Postgres;

/// <summary>Registers the PostgreSQL storage backend in a host.</summary>
public static class PostgresStorageExtensions
{
    /// <summary>Name of the health check of the backend's schema (reachable, at the version this build writes).</summary>
    public const string HealthCheckName = "storage-postgres";

    /// <summary>
    /// The shared backend: the <see cref="NpgsqlDataSource"/> of <c>ConnectionStrings:m2mdb</c> through the
    /// Aspire client integration (pooling, its health check, traces and metrics), options from
    /// <c>M2M:Storage:Postgres</c>, the <see cref="PostgresStore"/> (whose first resolution checks and
    /// migrates the schema) and on it the <see cref="ITimeSeriesStore"/>, <see cref="IRegistry"/> and
    /// <see cref="IFileStore"/>, plus an hourly creation of the coming months' partitions. Goes with
    /// <c>AddStorage()</c>, which adds what every backend shares.
    /// </summary>
    public static TBuilder AddPostgresStorage<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        // The connection string Aspire's data source uses: ConnectionStrings:m2mdb, else its own setting.
        var connectionString = builder.Configuration.GetConnectionString(StorageOptions.ConnectionStringName) is { } named && !string.IsNullOrWhiteSpace(named)
            ? named
            : builder.Configuration["Aspire:Npgsql:ConnectionString"];
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new InvalidOperationException(
                $"The PostgreSQL storage backend needs the connection string ConnectionStrings:{StorageOptions.ConnectionStringName} " +
                $"(e.g. \"Host=127.0.0.1;Username=m2m;Password=…;Database=m2m\"); it is not set.");
        }
        builder.AddNpgsqlDataSource(StorageOptions.ConnectionStringName,
            configureDataSourceBuilder: dataSource => PostgresConnectionDefaults.Apply(dataSource.ConnectionStringBuilder, connectionString));
        builder.Services.AddOptions<PostgresStorageOptions>().Bind(builder.Configuration.GetSection(PostgresStorageOptions.Section));
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton(sp => PostgresStore.Open(
            sp.GetRequiredService<NpgsqlDataSource>(),
            sp.GetRequiredService<IOptions<PostgresStorageOptions>>().Value,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILoggerFactory>().CreateLogger<PostgresStore>()));
        builder.Services.AddSingleton<ITimeSeriesStore>(sp => new PostgresTimeSeriesStore(sp.GetRequiredService<PostgresStore>()));
        builder.Services.TryAddSingleton(sp => new PostgresRegistry(sp.GetRequiredService<PostgresStore>(), sp.GetRequiredService<TimeProvider>()));
        builder.Services.TryAddSingleton<IRegistry>(sp => sp.GetRequiredService<PostgresRegistry>());
        builder.Services.TryAddSingleton<IFileStore>(sp => new PostgresFileStore(sp.GetRequiredService<PostgresRegistry>()));
        builder.Services.AddHostedService<PartitionMaintenance>();
        builder.Services.AddHealthChecks().AddCheck<PostgresHealthCheck>(HealthCheckName);
        return builder;
    }
}
