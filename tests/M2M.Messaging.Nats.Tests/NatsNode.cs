using M2M.Storage.TimeSeries;
using M2M.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace M2M.Messaging.Nats.Tests;

/// <summary>
/// A started host with the NATS bus (as an ingest or API node composes it) or a storage writer, on
/// a NATS server and under a name prefix that isolates the test from every other run.
/// </summary>
public sealed class NatsNode : IAsyncDisposable
{
    private readonly IHost _host;

    private NatsNode(IHost host) => _host = host;

    public IServiceProvider Services => _host.Services;

    public IMessageBus Bus => Services.GetRequiredService<IMessageBus>();

    public IRecordBus Records => Services.GetRequiredService<IRecordBus>();

    public NatsInfrastructure Infrastructure => Services.GetRequiredService<NatsInfrastructure>();

    /// <summary>A unique prefix for one test.</summary>
    public static string NewPrefix() => "t" + Guid.NewGuid().ToString("N")[..12];

    /// <summary>An ingest/API node's bus.</summary>
    public static Task<NatsNode> StartBusAsync(string url, string prefix, Action<Dictionary<string, string?>>? configure = null) =>
        StartAsync(url, prefix, configure, b => b.AddNatsBus());

    /// <summary>A storage writer committing to <paramref name="store"/>.</summary>
    public static Task<NatsNode> StartWriterAsync(string url, string prefix, ITimeSeriesStore store, Action<Dictionary<string, string?>>? configure = null) =>
        StartAsync(url, prefix, configure, b =>
        {
            b.Services.AddSingleton(store);
            b.AddNatsStorageWriter();
        });

    /// <summary>An ingest/API node's bus, built and not started.</summary>
    public static IHost BuildBus(string url, string prefix) => Build(url, prefix, null, b => b.AddNatsBus());

    /// <summary>A storage writer committing to <paramref name="store"/>, built and not started.</summary>
    public static IHost BuildWriter(string url, string prefix, ITimeSeriesStore store) => Build(url, prefix, null, b =>
    {
        b.Services.AddSingleton(store);
        b.AddNatsStorageWriter();
    });

    private static IHost Build(string url, string prefix, Action<Dictionary<string, string?>>? configure, Action<HostApplicationBuilder> compose)
    {
        var settings = new Dictionary<string, string?>
        {
            ["ConnectionStrings:nats"] = url,
            ["M2M:Nats:Prefix"] = prefix,
            ["Logging:LogLevel:Default"] = "Warning",
        };
        configure?.Invoke(settings);
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Logging.AddConfiguration(builder.Configuration.GetSection("Logging"));
        compose(builder);
        return builder.Build();
    }

    private static async Task<NatsNode> StartAsync(string url, string prefix, Action<Dictionary<string, string?>>? configure, Action<HostApplicationBuilder> compose)
    {
        var host = Build(url, prefix, configure, compose);
        var node = new NatsNode(host);
        try
        {
            await host.StartAsync(TestContext.Current.CancellationToken);
        }
        catch
        {
            // A refused start: what it began stops (a failure to stop must not hide why the start failed), then the services are disposed.
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            try
            {
                await host.StopAsync(timeout.Token);
            }
            catch (Exception)
            {
                // Reported by the start's exception.
            }
            await node.DisposeServicesAsync();
            throw;
        }
        return node;
    }

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        try
        {
            await _host.StopAsync(timeout.Token);
        }
        finally
        {
            await DisposeServicesAsync();
        }
    }

    private async Task DisposeServicesAsync()
    {
        if (_host is IAsyncDisposable asyncDisposable)
        {
            await asyncDisposable.DisposeAsync();
        }
        else
        {
            _host.Dispose();
        }
    }

    /// <summary>Ends the node as a crash would: the connection is dropped and nothing is flushed or acknowledged.</summary>
    public async Task CrashAsync()
    {
        var connection = Services.GetRequiredService<NATS.Client.Core.NatsConnection>();
        await connection.DisposeAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
        try
        {
            await _host.StopAsync(timeout.Token);
        }
        catch (Exception)
        {
            // Whatever was running dies with the process it stands for.
        }
    }

    /// <summary>Waits for <paramref name="condition"/> with a generous timeout (no fixed sleeps).</summary>
    public static async Task EventuallyAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Timed out waiting for: {what}");
            }
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
    }

    public static string Url => RequiredServices.Nats;
}
