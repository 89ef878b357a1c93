using System.Diagnostics.Metrics;
using M2M.Ingest.Hosting;
using M2M.Messaging;
using M2M.Server;
using M2M.Storage;
using M2M.Testing;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;

namespace M2M.Ingest.Sessions.Tests;

/// <summary>The listeners in their hosts: next to HTTP, in a host without HTTP, and their limits and metrics.</summary>
public sealed class ListenerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task HTTP_keeps_its_configured_urls_next_to_the_device_listeners()
    {
        await using var server = await DeviceServer.StartAsync();
        var http = Assert.Single(server.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses);
        Assert.StartsWith("http://127.0.0.1:", http);
        Assert.NotEqual(0, server.Endpoints.M2mp!.Port);
        Assert.NotEqual(0, server.Endpoints.Alip!.Port);
        Assert.NotEqual(server.Endpoints.M2mp.Port, server.Endpoints.Alip.Port);

        using var client = new HttpClient { BaseAddress = new Uri(http) };
        Assert.Equal("Healthy", await client.GetStringAsync("/health", Ct));
        await using var device = await server.ConnectAlipAsync();
        Assert.StartsWith("T ", await device.AskAsync("T"));
    }

    [Fact]
    public async Task A_host_without_HTTP_serves_devices()
    {
        using var data = new TempDirectory("m2m-generic-host");
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["M2M:DataDirectory"] = data.Path,
            ["M2M:Ingest:M2mpPort"] = "0",
            ["M2M:Ingest:AlipPort"] = "0",
            ["Logging:LogLevel:Default"] = "Warning",
        });
        builder.AddStorage();
        builder.AddStorageBackend();
        builder.AddBus();
        builder.AddIngest();
        using var host = builder.Build();
        await host.StartAsync(Ct);
        try
        {
            var endpoints = host.Services.GetRequiredService<IngestEndpoints>();
            using var tcp = new System.Net.Sockets.TcpClient();
            await tcp.ConnectAsync(System.Net.IPAddress.Loopback, endpoints.Alip!.Port, Ct);
            await using var device = new AlipDevice(tcp);
            await device.IdentifyAsync(Idents.New());
            await device.ExpectAsync("S GA");
            await device.SendAsync("D T 1");
            await device.BarrierAsync();
        }
        finally
        {
            await host.StopAsync(Ct);
        }
    }

    [Theory]
    [InlineData("Lean")]
    [InlineData("Kestrel")]
    public async Task A_device_that_does_not_read_its_answers_is_disconnected(string transport)
    {
        await using var server = await DeviceServer.StartAsync($"Transport={transport}", "WriteTimeout=00:00:00.500", "MaxPendingOutboundBytes=4096");
        var name = $"fw-{Guid.NewGuid():N}";
        await server.Firmware.StoreAsync(name, new MemoryStream(new byte[4096]), cancellationToken: Ct);
        await server.Firmware.SetAccessAsync(name, new M2M.Storage.Files.FirmwareAccess(AllDomains: true, []), Ct);
        await using var device = await server.ConnectAlipAsync();
        await device.IdentifyAsync(Idents.New());
        await device.ExpectAsync("S GA");
        Assert.Equal("F N 1", await device.AskAsync($"F N {name}"));

        // Each request asks for 8 KiB of hex; the device never reads: the kernel buffers fill, then the server's.
        var request = System.Text.Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("F G 0 4096\n", 1000)));
        var closed = false;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!closed && DateTime.UtcNow < deadline)
        {
            try
            {
                await device.SendRawAsync(request).WaitAsync(TimeSpan.FromSeconds(5), Ct);
                closed = server.Connections.Count == 0;
            }
            catch (Exception e) when (e is IOException or TimeoutException)
            {
                closed = true;
            }
        }
        await DeviceServer.EventuallyAsync(() => Task.FromResult(server.Connections.Count == 0), "the connection closed by the server");
    }

    [Fact]
    public async Task Metrics_count_connections_errors_records_and_barrier_latency()
    {
        var measurements = new System.Collections.Concurrent.ConcurrentBag<(string Name, double Value, string? Kind)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "M2M.Ingest")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((i, v, tags, _) => measurements.Add((i.Name, v, Kind(tags))));
        listener.SetMeasurementEventCallback<double>((i, v, tags, _) => measurements.Add((i.Name, v, Kind(tags))));
        listener.Start();

        await using var server = await DeviceServer.StartAsync();
        await using (var device = await server.ConnectAlipAsync())
        {
            Assert.StartsWith("ERR ", await device.AskAsync("NOPE"));
            await device.IdentifyAsync(Idents.New());
            await device.ExpectAsync("S GA");
            await device.SendAsync("D T 1");
            await device.BarrierAsync();
        }

        Assert.Contains(measurements, m => m.Name == "m2m.ingest.connections" && m.Value == 1);
        Assert.Contains(measurements, m => m.Name == "m2m.ingest.protocol.errors" && m.Kind == "unknown_command");
        Assert.Contains(measurements, m => m.Name == "m2m.ingest.records.published");
        Assert.Contains(measurements, m => m.Name == "m2m.ingest.barrier.latency");
        Assert.Contains(measurements, m => m.Name == "m2m.ingest.messages.in");

        static string? Kind(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "kind")
                {
                    return tag.Value as string;
                }
            }
            return null;
        }
    }

    [Fact]
    public async Task A_record_stamped_in_the_future_is_stored_and_counted()
    {
        long future = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "M2M.Ingest" && instrument.Name == "m2m.ingest.records.future")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, v, _, _) => Interlocked.Add(ref future, v));
        listener.Start();

        await using var server = await DeviceServer.StartAsync();
        var ident = Idents.New();
        await using var device = await server.ConnectAlipAsync();
        await device.IdentifyAsync(ident);
        await device.ExpectAsync("S GA");
        var inAnHour = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds();
        await device.SendAsync($"E {inAnHour} T 30");
        await device.BarrierAsync();

        var record = Assert.Single(await server.RecordsAsync((await server.DeviceAsync(ident)).Id, "sen:temp"));
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(inAnHour), record.Time);
        Assert.True(Interlocked.Read(ref future) >= 1);
    }
}
