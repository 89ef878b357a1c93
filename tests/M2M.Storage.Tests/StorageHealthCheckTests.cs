using M2M.Storage.Rocks;
using M2M.Storage.TimeSeries;
using M2M.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace M2M.Storage.Tests;

/// <summary>The engine-neutral storage health check: the backend's stores can be had, the batch writer runs.</summary>
public sealed class StorageHealthCheckTests : IDisposable
{
    private readonly TempDirectory _directory = new("m2m-health");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _directory.Dispose();

    private HostApplicationBuilder Builder()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection([new("M2M:DataDirectory", _directory.Path)]);
        builder.AddStorage();
        return builder;
    }

    private static async Task<HealthReportEntry> StorageHealthAsync(IHost host) =>
        (await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync(Ct)).Entries[StorageExtensions.HealthCheckName];

    [Fact]
    public async Task Without_a_backend_the_storage_is_unhealthy()
    {
        using var host = Builder().Build();

        var entry = await StorageHealthAsync(host);

        Assert.Equal(HealthStatus.Unhealthy, entry.Status);
        Assert.Equal("The storage backend cannot be opened.", entry.Description);
    }

    [Fact]
    public async Task The_storage_is_unhealthy_while_commits_fail_and_healthy_again_once_they_succeed()
    {
        var builder = Builder();
        builder.AddRocksStorage();
        builder.Configuration.AddInMemoryCollection([new("M2M:Storage:Writer:RetryMaxDelay", "00:00:00.1")]);
        // The real store, whose commits fail as on a full disk while the switch is on.
        RecordWriterTests.FlakyStore? store = null;
        builder.Services.AddSingleton<ITimeSeriesStore>(sp => store = new RecordWriterTests.FlakyStore(new RocksTimeSeriesStore(sp.GetRequiredService<RocksStore>())));
        using var host = builder.Build();
        await host.StartAsync(Ct);
        Assert.Equal(HealthStatus.Healthy, (await StorageHealthAsync(host)).Status);

        store!.Failing = true;
        var writer = host.Services.GetRequiredService<IRecordWriter>();
        var ticket = await writer.WriteAsync(new TimeSeriesRecord("dev-1", "t", DateTimeOffset.UnixEpoch.AddYears(56), "{}"), Ct);
        // The store counts a failed call before the writer has seen it fail: wait for the writer's state.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        HealthReportEntry failing;
        while ((failing = await StorageHealthAsync(host)).Status != HealthStatus.Unhealthy)
        {
            Assert.True(DateTime.UtcNow < deadline, $"not unhealthy within 30 s of a failing commit (failed calls: {store.FailedCalls}, status {failing.Status})");
            await Task.Delay(10, Ct);
        }
        Assert.True(store.FailedCalls > 0);
        Assert.StartsWith("Commits of records fail since ", failing.Description, StringComparison.Ordinal);
        Assert.IsType<IOException>(failing.Exception);

        store.Failing = false;
        await writer.WaitDurableAsync(ticket, Ct).AsTask().WaitAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.Equal(HealthStatus.Healthy, (await StorageHealthAsync(host)).Status);
        await host.StopAsync(Ct);
    }

    [Fact]
    public async Task The_storage_is_degraded_while_the_disk_has_less_free_space_than_the_reserve()
    {
        var builder = Builder();
        builder.AddRocksStorage();
        // More than any disk has free.
        builder.Configuration.AddInMemoryCollection([new("M2M:Storage:ReservedFreeBytes", (long.MaxValue / 2).ToString(System.Globalization.CultureInfo.InvariantCulture))]);
        using var host = builder.Build();
        await host.StartAsync(Ct);

        var entry = await StorageHealthAsync(host);

        Assert.Equal(HealthStatus.Degraded, entry.Status);
        Assert.Contains("bytes free in the data directory", entry.Description, StringComparison.Ordinal);
        await host.StopAsync(Ct);
    }
}
