using System.Net;
using M2M.Ingest.Hosting;
using M2M.Load.Simulation;
using M2M.Load.Stats;
using M2M.Messaging;
using M2M.Server;
using M2M.Storage.Entities;
using M2M.Storage.TimeSeries;
using M2M.Testing;
using Microsoft.AspNetCore.Builder;

namespace M2M.Load.Tests;

/// <summary>A real <see cref="M2MServer"/> on free loopback ports with a temporary data directory, shared by a test class.</summary>
public sealed class ServerFixture : IAsyncLifetime
{
    private readonly TempDirectory _data = new("m2m-load-test");
    private int _nextIdent;

    public WebApplication App { get; private set; } = null!;

    public IPEndPoint M2mp { get; private set; } = null!;

    public IPEndPoint Alip { get; private set; } = null!;

    public ITimeSeriesStore TimeSeries => App.Services.GetRequiredService<ITimeSeriesStore>();

    public IDeviceStore Devices => App.Services.GetRequiredService<IDeviceStore>();

    public IMessageBus Bus => App.Services.GetRequiredService<IMessageBus>();

    public async ValueTask InitializeAsync()
    {
        App = M2MServer.Build(
        [
            "--urls", "http://127.0.0.1:0",
            "--M2M:DataDirectory", _data.Path,
            "--M2M:Ingest:M2mpPort", "0",
            "--M2M:Ingest:AlipPort", "0",
            "--Logging:LogLevel:Default", "Warning",
        ]);
        await App.StartAsync();
        var endpoints = App.Services.GetRequiredService<IngestEndpoints>();
        await endpoints.Started.WaitAsync(TimeSpan.FromSeconds(30));
        M2mp = new IPEndPoint(IPAddress.Loopback, endpoints.M2mp!.Port);
        Alip = new IPEndPoint(IPAddress.Loopback, endpoints.Alip!.Port);
    }

    /// <summary>A device plan aimed at this server; every call hands out fresh ident numbers.</summary>
    public DevicePlan Plan(
        DeviceMode mode, RunCounters counters, int barrierEvery = 5, TimeSpan? period = null, ReplayFile? replay = null, DateTimeOffset? replayStart = null) => new()
    {
        M2mpEndPoint = M2mp,
        AlipEndPoint = Alip,
        Mode = mode,
        Counters = counters,
        BarrierEvery = barrierEvery,
        Period = period ?? TimeSpan.FromMilliseconds(50),
        Jitter = 0.2,
        ReconnectMin = TimeSpan.FromMilliseconds(100),
        ReconnectMax = TimeSpan.FromMilliseconds(400),
        ConnectTimeout = TimeSpan.FromSeconds(5),
        IdentTimeout = TimeSpan.FromSeconds(10),
        DrainTimeout = TimeSpan.FromSeconds(10),
        KeepAckedRecords = true,
        Replay = replay,
        ReplayStart = replayStart ?? DateTimeOffset.UtcNow,
    };

    /// <summary><paramref name="count"/> devices; <paramref name="alip"/> decides the protocol of each.</summary>
    public List<SimulatedDevice> CreateDevices(DevicePlan plan, int count, Func<int, bool> alip)
    {
        var first = Interlocked.Add(ref _nextIdent, count) - count;
        return Enumerable.Range(first, count)
            .Select(i => alip(i - first)
                ? (SimulatedDevice)new M2M.Load.Simulation.AlipDevice(DevicePlan.Ident("imei:77", i), i, plan)
                : new M2mpDevice(DevicePlan.Ident("imei:77", i), i, plan))
            .ToList();
    }

    /// <summary>Every stored record of <paramref name="type"/> of the device with <paramref name="ident"/>, oldest first.</summary>
    public async Task<List<TimeSeriesRecord>> StoredAsync(string ident, string type)
    {
        var device = await Devices.GetByIdentAsync(ident) ?? throw new InvalidOperationException($"{ident} is not registered");
        var records = new List<TimeSeriesRecord>();
        string? continuation = null;
        do
        {
            var page = await TimeSeries.QueryAsync(new TimeSeriesQuery($"dev-{device.Id:D}", type, Descending: false, Limit: 1000, Continuation: continuation));
            records.AddRange(page.Items);
            continuation = page.Continuation;
        }
        while (continuation is not null);
        return records;
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
        _data.Dispose();
    }
}
