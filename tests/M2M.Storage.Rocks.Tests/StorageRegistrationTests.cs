using M2M.Storage.TimeSeries;
using M2M.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace M2M.Storage.Rocks.Tests;

public sealed class StorageRegistrationTests : IDisposable
{
    private readonly TempDirectory _directory = new("m2m-di");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _directory.Dispose();

    private IHost Build(params (string Key, string Value)[] settings)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection([
            new("M2M:DataDirectory", _directory.Path),
            .. settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value)),
        ]);
        builder.AddStorage();
        builder.AddRocksStorage();
        return builder.Build();
    }

    [Fact]
    public async Task Host_opens_the_database_under_the_data_directory_and_reports_it_healthy()
    {
        using var host = Build();
        await host.StartAsync(Ct);

        var store = host.Services.GetRequiredService<RocksStore>();
        Assert.Equal(Path.Combine(_directory.Path, "db"), store.Directory);
        Assert.Equal(Durability.Synced, store.Options.Durability);
        Assert.IsType<RocksTimeSeriesStore>(host.Services.GetRequiredService<ITimeSeriesStore>());
        Assert.Same(host.Services.GetRequiredService<RecordWriter>(), host.Services.GetRequiredService<IRecordWriter>());
        var health = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync(Ct);
        Assert.Equal(HealthStatus.Healthy, health.Entries[StorageExtensions.HealthCheckName].Status);
        Assert.Equal(HealthStatus.Healthy, health.Entries[RocksStorageExtensions.HealthCheckName].Status);

        await host.StopAsync(Ct);
    }

    [Fact]
    public async Task Durability_and_writer_options_come_from_configuration()
    {
        using var host = Build(("M2M:Storage:Rocks:Durability", "ProcessCrash"), ("M2M:Storage:Rocks:BlockCacheBytes", "1048576"));

        var store = host.Services.GetRequiredService<RocksStore>();

        Assert.Equal(Durability.ProcessCrash, store.Options.Durability);
        Assert.Equal(1 << 20, store.Options.BlockCacheBytes);
        await Task.CompletedTask;
    }

    [Fact]
    public async Task Stopping_the_host_commits_every_accepted_record_and_closes_the_database()
    {
        var time = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        RocksStore store;
        using (var host = Build())
        {
            await host.StartAsync(Ct);
            var writer = host.Services.GetRequiredService<IRecordWriter>();
            store = host.Services.GetRequiredService<RocksStore>();
            for (var i = 0; i < 5_000; i++)
            {
                await writer.WriteAsync(new TimeSeriesRecord("dev-1", "t", time.AddSeconds(i), "{}"), Ct);
            }
            await host.StopAsync(Ct);
        }
        Assert.True(store.IsDisposed);

        using var reopened = RocksStore.Open(Path.Combine(_directory.Path, "db"));
        var page = await new RocksTimeSeriesStore(reopened).QueryAsync(new TimeSeriesQuery("dev-1", Limit: TimeSeriesQuery.MaxLimit), Ct);
        Assert.Equal(5_000, page.Items.Count);
    }

    [Fact]
    public async Task Health_check_reports_unhealthy_when_the_database_cannot_be_opened()
    {
        using var holder = RocksStore.Open(Path.Combine(_directory.Path, "db"));
        using var host = Build();

        var health = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync(Ct);

        Assert.Equal(HealthStatus.Unhealthy, health.Entries[StorageExtensions.HealthCheckName].Status);
        Assert.Equal(HealthStatus.Unhealthy, health.Entries[RocksStorageExtensions.HealthCheckName].Status);
    }

    [Fact]
    public async Task Rocks_health_check_reports_unhealthy_once_the_database_is_closed()
    {
        using var host = Build();
        var store = host.Services.GetRequiredService<RocksStore>();
        var check = new RocksHealthCheck(host.Services);
        Assert.Equal(HealthStatus.Healthy, (await check.CheckHealthAsync(new HealthCheckContext(), Ct)).Status);

        store.Dispose();

        var result = await check.CheckHealthAsync(new HealthCheckContext(), Ct);
        Assert.Equal(HealthStatus.Unhealthy, result.Status);
        Assert.Contains("closed", result.Description, StringComparison.Ordinal);
    }
}
