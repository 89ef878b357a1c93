using M2M.Storage.Files;
using M2M.Storage.Postgres.Files;
using M2M.Storage.Postgres.Registry;
using M2M.Storage.Postgres.TimeSeries;
using M2M.Storage.Registry;
using M2M.Storage.TimeSeries;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Npgsql;

namespace M2M.Storage.Postgres.Tests;

/// <summary><c>AddPostgresStorage()</c> in a host: every contract, the schema migrated at start, health checks, draining on stop.</summary>
public sealed class StorageRegistrationTests(PostgresFixture fixture) : IClassFixture<PostgresFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private IHost Build(string schema, string? connectionString = null)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection([
            new($"ConnectionStrings:{StorageOptions.ConnectionStringName}", connectionString ?? fixture.ConnectionString),
            new("M2M:Storage:Postgres:Schema", schema),
        ]);
        builder.AddStorage();
        builder.AddPostgresStorage();
        return builder.Build();
    }

    [Fact]
    public async Task Host_registers_every_store_on_the_migrated_schema_and_reports_it_healthy()
    {
        var schema = fixture.NewSchemaName();
        using var host = Build(schema);
        await host.StartAsync(Ct);

        Assert.Equal(schema, host.Services.GetRequiredService<PostgresStore>().Schema);
        Assert.IsType<PostgresTimeSeriesStore>(host.Services.GetRequiredService<ITimeSeriesStore>());
        Assert.IsType<PostgresRegistry>(host.Services.GetRequiredService<IRegistry>());
        Assert.IsType<PostgresFileStore>(host.Services.GetRequiredService<IFileStore>());
        Assert.Same(host.Services.GetRequiredService<RecordWriter>(), host.Services.GetRequiredService<IRecordWriter>());
        // The default domain was ensured at start, through the PostgreSQL registry.
        Assert.NotNull(await host.Services.GetRequiredService<M2M.Storage.Entities.IDomainStore>().GetByNameAsync("default", Ct));
        var health = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync(Ct);
        Assert.Equal(HealthStatus.Healthy, health.Status);
        Assert.Equal(HealthStatus.Healthy, health.Entries[StorageExtensions.HealthCheckName].Status);
        Assert.Equal(HealthStatus.Healthy, health.Entries[PostgresStorageExtensions.HealthCheckName].Status);
        Assert.True(health.Entries.Count >= 3, "The Aspire data source adds its own check of the database.");

        await host.StopAsync(Ct);
    }

    [Fact]
    public async Task Stopping_the_host_commits_every_accepted_record()
    {
        var schema = fixture.NewSchemaName();
        var time = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        using (var host = Build(schema))
        {
            await host.StartAsync(Ct);
            var writer = host.Services.GetRequiredService<IRecordWriter>();
            for (var i = 0; i < 5_000; i++)
            {
                await writer.WriteAsync(new TimeSeriesRecord("dev-1", "t", time.AddSeconds(i), "{}"), Ct);
            }
            await host.StopAsync(Ct);
        }

        var series = new PostgresTimeSeriesStore(PostgresStore.Attach(fixture.DataSource, new PostgresStorageOptions { Schema = schema }));
        Assert.Equal(5_000, (await series.QueryAsync(new TimeSeriesQuery("dev-1", Limit: TimeSeriesQuery.MaxLimit), Ct)).Items.Count);
    }

    [Fact]
    public async Task Health_checks_report_unhealthy_when_the_database_cannot_be_reached()
    {
        var unreachable = new NpgsqlConnectionStringBuilder(fixture.ConnectionString) { Port = 1, Timeout = 2 }.ConnectionString;
        using var host = Build(fixture.NewSchemaName(), unreachable);

        var health = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync(Ct);

        Assert.Equal(HealthStatus.Unhealthy, health.Entries[StorageExtensions.HealthCheckName].Status);
        Assert.Equal(HealthStatus.Unhealthy, health.Entries[PostgresStorageExtensions.HealthCheckName].Status);
    }

    [Fact]
    public void Without_a_connection_string_the_backend_refuses_to_start_naming_the_key()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.AddStorage();

        var error = Assert.Throws<InvalidOperationException>(() => builder.AddPostgresStorage());

        Assert.Contains($"ConnectionStrings:{StorageOptions.ConnectionStringName}", error.Message, StringComparison.Ordinal);
    }
}
