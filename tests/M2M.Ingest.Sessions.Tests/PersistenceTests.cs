using System.Net.Sockets;
using System.Text;
using M2M.Storage.Rocks;
using M2M.Storage.TimeSeries;
using M2M.Testing;

namespace M2M.Ingest.Sessions.Tests;

/// <summary>What a barrier acknowledged is never lost: not on a restart, not on <c>kill -9</c>.</summary>
public sealed class PersistenceTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Records_survive_a_restart_of_the_host()
    {
        await using var server = await DeviceServer.StartAsync();
        var ident = Idents.New();
        await using (var device = await server.ConnectAlipAsync())
        {
            await device.IdentifyAsync(ident);
            await device.ExpectAsync("S GA");
            await device.SendAsync("E 1700000000 T 21.5");
            await device.SendAsync("D V 12.1");
            await device.BarrierAsync();
        }
        var id = (await server.DeviceAsync(ident)).Id;

        await server.RestartAsync();

        Assert.Equal(id, (await server.DeviceAsync(ident)).Id);
        var records = await server.RecordsAsync(id);
        Assert.Single(records, r => r.Type == "sen:temp" && r.Data == "\"21.5\"");
        Assert.Single(records, r => r.Type == "sen:volt");

        // The device comes back to the restarted server and goes on.
        await using var again = await server.ConnectAlipAsync();
        await again.IdentifyAsync(ident);
        await again.ExpectAsync("S GA");
        await again.SendAsync("D T 22");
        await again.BarrierAsync();
        Assert.Equal(2, (await server.RecordsAsync(id, "sen:temp")).Count);
    }

    [Fact]
    public async Task Nothing_answered_by_a_barrier_is_lost_when_the_server_is_killed()
    {
        using var data = new TempDirectory("m2m-kill");
        var ident = Idents.New();
        var acknowledged = new List<string>();
        await using (var server = await ChildServer.StartAsync(KillableServerArgs(data.Path)))
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(server.Alip, Ct);
                var device = new AlipDevice(client);
                await device.IdentifyAsync(ident);
                await device.ExpectAsync("S GA");
                for (var round = 0; round < 5; round++)
                {
                    var batch = Enumerable.Range(0, 100).Select(i => $"{round}-{i}").ToList();
                    await device.SendRawAsync(Encoding.ASCII.GetBytes(string.Concat(batch.Select(v => $"D kill {v}\n")) + $"A {round}\n"));
                    Assert.Equal($"B {round}", await device.ReadLineAsync());
                    acknowledged.AddRange(batch);
                }
                // More data in flight, never acknowledged, then kill -9 right after the last answer.
                await device.SendRawAsync(Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, 100).Select(i => $"D kill late-{i}\n"))));
            }
            finally
            {
                await server.KillAsync();
            }
        }

        using var store = RocksStore.Open(Path.Combine(data.Path, "db"));
        var series = new RocksTimeSeriesStore(store);
        var stored = new HashSet<string>(StringComparer.Ordinal);
        string? continuation = null;
        do
        {
            var page = await series.QueryAsync(
                new TimeSeriesQuery($"dev-{M2M.Storage.Entities.DeviceIds.FromIdent(ident):D}", "kill", Descending: false, Limit: 1000, Continuation: continuation), Ct);
            foreach (var record in page.Items)
            {
                stored.Add(System.Text.Json.JsonSerializer.Deserialize<string>(record.Data)!);
            }
            continuation = page.Continuation;
        }
        while (continuation is not null);

        var missing = acknowledged.Where(v => !stored.Contains(v)).ToList();
        Assert.True(missing.Count == 0, $"{missing.Count} acknowledged records missing, e.g. {string.Join(", ", missing.Take(5))}.");
        Assert.Equal(500, acknowledged.Count);
    }

    /// <summary>The command line of a server that a test kills: free ports, its data directory, warnings only.</summary>
    internal static string[] KillableServerArgs(string dataDirectory) =>
    [
        "--urls", "http://127.0.0.1:0", "--M2M:DataDirectory", dataDirectory,
        "--M2M:Ingest:M2mpPort", "0", "--M2M:Ingest:AlipPort", "0",
        "--Logging:LogLevel:Default", "Warning",
    ];
}
