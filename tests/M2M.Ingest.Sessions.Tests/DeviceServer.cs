using System.Net.Sockets;
using M2M.Ingest.Connections;
using M2M.Ingest.Hosting;
using M2M.Messaging;
using M2M.Server;
using M2M.Storage.Entities;
using M2M.Storage.Files;
using M2M.Storage.TimeSeries;
using M2M.Testing;
using Microsoft.AspNetCore.Builder;

namespace M2M.Ingest.Sessions.Tests;

/// <summary>
/// A real <see cref="M2MServer"/> (RocksDB on disk in a temp directory, or PostgreSQL with
/// <c>M2M_TEST_BACKEND=postgres</c>; in-process bus) with its
/// device listeners on free ports, and what a test needs to look inside it.
/// </summary>
public sealed class DeviceServer : IAsyncDisposable
{
    private readonly TempDirectory? _ownedData;
    private readonly string[] _args;

    private readonly Action<WebApplicationBuilder>? _configure;

    private DeviceServer(WebApplication app, string dataDirectory, TempDirectory? ownedData, string[] args, Action<WebApplicationBuilder>? configure)
    {
        App = app;
        DataDirectory = dataDirectory;
        _ownedData = ownedData;
        _args = args;
        _configure = configure;
    }

    public WebApplication App { get; private set; }

    public string DataDirectory { get; }

    public IServiceProvider Services => App.Services;

    public IDeviceStore Devices => Services.GetRequiredService<IDeviceStore>();

    public ITimeSeriesStore TimeSeries => Services.GetRequiredService<ITimeSeriesStore>();

    public IFirmwareStore Firmware => Services.GetRequiredService<IFirmwareStore>();

    public IMessageBus Bus => Services.GetRequiredService<IMessageBus>();

    public IConnectionRegistry Connections => Services.GetRequiredService<IConnectionRegistry>();

    public IngestEndpoints Endpoints => Services.GetRequiredService<IngestEndpoints>();

    /// <summary>Starts a server; <paramref name="settings"/> are <c>key=value</c> pairs under <c>M2M:Ingest:</c> (e.g. <c>AutoRegister=false</c>).</summary>
    public static Task<DeviceServer> StartAsync(params string[] settings) => StartAsync(null, settings);

    /// <summary>Starts a server whose services <paramref name="configure"/> adds to (e.g. test converters).</summary>
    public static async Task<DeviceServer> StartAsync(Action<WebApplicationBuilder>? configure, params string[] settings)
    {
        var data = new TempDirectory("m2m-ingest");
        try
        {
            return await StartAsync(data.Path, data, settings, configure);
        }
        catch
        {
            // A server that refuses to start (what some tests expect) leaves no data directory behind.
            TestBackend.Release(data.Path);
            data.Dispose();
            throw;
        }
    }

    private static async Task<DeviceServer> StartAsync(string dataDirectory, TempDirectory? owned, string[] settings, Action<WebApplicationBuilder>? configure)
    {
        List<string> args =
        [
            "--urls", "http://127.0.0.1:0",
            "--M2M:DataDirectory", dataDirectory,
            "--M2M:Ingest:M2mpPort", "0",
            "--M2M:Ingest:AlipPort", "0",
            "--Logging:LogLevel:Default", "Warning",
            .. TestBackend.Arguments(dataDirectory),
        ];
        foreach (var setting in settings)
        {
            var eq = setting.IndexOf('=', StringComparison.Ordinal);
            args.Add($"--M2M:Ingest:{setting[..eq]}");
            args.Add(setting[(eq + 1)..]);
        }
        var app = M2MServer.Build([.. args], configure);
        try
        {
            await app.StartAsync(TestContext.Current.CancellationToken);
            await app.Services.GetRequiredService<IngestEndpoints>().Started;
        }
        catch
        {
            // A refused start (some tests expect one): what it began stops, then the database closes.
            await HostRunner.ReleaseAfterFailedStartAsync(app);
            throw;
        }
        return new DeviceServer(app, dataDirectory, owned, settings, configure);
    }

    /// <summary>Stops the host (gracefully) and starts a new one on the same data directory.</summary>
    public async Task RestartAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
        App = (await StartAsync(DataDirectory, null, _args, _configure)).App;
    }

    public async Task<AlipDevice> ConnectAlipAsync()
    {
        var client = new TcpClient();
        await client.ConnectAsync(System.Net.IPAddress.Loopback, Endpoints.Alip!.Port, TestContext.Current.CancellationToken);
        return new AlipDevice(client);
    }

    public async Task<M2mpDevice> ConnectM2mpAsync()
    {
        var client = new TcpClient();
        await client.ConnectAsync(System.Net.IPAddress.Loopback, Endpoints.M2mp!.Port, TestContext.Current.CancellationToken);
        return new M2mpDevice(client);
    }

    /// <summary>An ALIP device on the TLS listener; the server must present <paramref name="serverCertificate"/>.</summary>
    public async Task<AlipDevice> ConnectAlipTlsAsync(System.Security.Cryptography.X509Certificates.X509Certificate2 serverCertificate, System.Security.Cryptography.X509Certificates.X509Certificate2? clientCertificate = null)
    {
        var (client, stream) = await TestCertificates.ConnectAsync(Endpoints.AlipTls!.Port, serverCertificate, clientCertificate);
        return new AlipDevice(client, stream);
    }

    /// <summary>An M2MP device on the TLS listener; the server must present <paramref name="serverCertificate"/>.</summary>
    public async Task<M2mpDevice> ConnectM2mpTlsAsync(System.Security.Cryptography.X509Certificates.X509Certificate2 serverCertificate, System.Security.Cryptography.X509Certificates.X509Certificate2? clientCertificate = null)
    {
        var (client, stream) = await TestCertificates.ConnectAsync(Endpoints.M2mpTls!.Port, serverCertificate, clientCertificate);
        return new M2mpDevice(client, stream);
    }

    /// <summary>The records of a device (oldest first), read from the database.</summary>
    public async Task<IReadOnlyList<TimeSeriesRecord>> RecordsAsync(Guid deviceId, string? type = null)
    {
        var page = await TimeSeries.QueryAsync(
            new TimeSeriesQuery($"dev-{deviceId:D}", type, Descending: false, Limit: TimeSeriesQuery.MaxLimit),
            TestContext.Current.CancellationToken);
        return page.Items;
    }

    /// <summary>The device of <paramref name="ident"/> (it must exist).</summary>
    public async Task<Device> DeviceAsync(string ident) =>
        await Devices.GetByIdentAsync(ident, TestContext.Current.CancellationToken) ?? throw new InvalidOperationException($"No device {ident}.");

    /// <summary>Waits until <paramref name="condition"/> holds (polling), or fails after a few seconds.</summary>
    public static async Task EventuallyAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Timed out waiting for: {what}");
            }
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
        if (_ownedData is not null)
        {
            TestBackend.Release(DataDirectory);
            _ownedData.Dispose();
        }
    }
}

/// <summary>The shared server of the tests that need no special configuration.</summary>
public sealed class SharedServer : IAsyncLifetime
{
    private DeviceServer? _server;

    public DeviceServer Server => _server ?? throw new InvalidOperationException("Not started.");

    public async ValueTask InitializeAsync() => _server = await DeviceServer.StartAsync();

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}

[CollectionDefinition(Name)]
public sealed class SharedServerCollection : ICollectionFixture<SharedServer>
{
    public const string Name = "shared server";
}
