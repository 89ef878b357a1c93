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
    public async Task The_storage_turns_unhealthy_when_the_record_writer_stops_on_a_failed_commit()
    {
        var builder = Builder();
        builder.AddRocksStorage();
        // The real store, with its first commit failing as a full disk would.
        builder.Services.AddSingleton<ITimeSeriesStore>(sp => new RecordWriterTests.FailingStore(new RocksTimeSeriesStore(sp.GetRequiredService<RocksStore>()), 1));
        using var host = builder.Build();
        await host.StartAsync(Ct);
        Assert.Equal(HealthStatus.Healthy, (await StorageHealthAsync(host)).Status);

        var writer = host.Services.GetRequiredService<IRecordWriter>();
        var ticket = await writer.WriteAsync(new TimeSeriesRecord("dev-1", "t", DateTimeOffset.UnixEpoch.AddYears(56), "{}"), Ct);
        await Assert.ThrowsAsync<RecordWriterFaultedException>(() => writer.WaitDurableAsync(ticket, Ct).AsTask());

        var entry = await StorageHealthAsync(host);
        Assert.Equal(HealthStatus.Unhealthy, entry.Status);
        Assert.Equal("The record writer stopped after a failed commit.", entry.Description);
        Assert.IsType<IOException>(entry.Exception);
        await host.StopAsync(Ct);
    }
}
