using System.Diagnostics;
using System.Net;
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
        var (m2mpPort, alipPort, httpPort) = (FreePort(), FreePort(), FreePort());
        var serverDll = FindServerAssembly();
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[]
        {
            serverDll, "--urls", $"http://127.0.0.1:{httpPort}", "--M2M:DataDirectory", data.Path,
            "--M2M:Ingest:M2mpPort", $"{m2mpPort}", "--M2M:Ingest:AlipPort", $"{alipPort}",
            "--Logging:LogLevel:Default", "Warning",
        })
        {
            start.ArgumentList.Add(arg);
        }

        var ident = Idents.New();
        var acknowledged = new List<string>();
        using (var process = Process.Start(start)!)
        {
            process.OutputDataReceived += (_, _) => { };
            process.ErrorDataReceived += (_, _) => { };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            try
            {
                using var client = await ConnectWithRetryAsync(alipPort, process);
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
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync(Ct);
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

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task<TcpClient> ConnectWithRetryAsync(int port, Process process)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var client = new TcpClient();
            try
            {
                await client.ConnectAsync(IPAddress.Loopback, port, Ct);
                return client;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline && !process.HasExited)
            {
                client.Dispose();
                await Task.Delay(100, Ct);
            }
        }
    }

    /// <summary>The built server next to this test's build: <c>src/M2M.Server/bin/&lt;Configuration&gt;/&lt;tfm&gt;/M2M.Server.dll</c>.</summary>
    internal static string FindServerAssembly()
    {
        var testDirectory = new DirectoryInfo(AppContext.BaseDirectory);
        var tfm = testDirectory.Name;
        var configuration = testDirectory.Parent!.Name;
        var root = testDirectory;
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "M2M.Aspire.sln")))
        {
            root = root.Parent;
        }
        Assert.NotNull(root);
        var path = Path.Combine(root.FullName, "src", "M2M.Server", "bin", configuration, tfm, "M2M.Server.dll");
        Assert.True(File.Exists(path), $"The server is not built at {path}.");
        return path;
    }
}
