using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Aspire.Hosting;
using Aspire.Hosting.Testing;
using M2M.Testing;
using TempDirectory = M2M.Testing.TempDirectory;

namespace M2M.AppHost.Tests;

/// <summary>
/// The distributed profile started as <c>dotnet run</c> starts it: PostgreSQL and NATS from the
/// local binaries, both ingest nodes, the API node and the writers healthy, and a record sent to
/// an ingest node served by the API node.
/// </summary>
public class DistributedRunTests
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(6);

    [Fact]
    public async Task The_distributed_profile_starts_every_role_healthy_and_carries_a_record_from_a_device_to_the_api()
    {
        ServerProcess.FindBinary("nats-server");
        var ct = TestContext.Current.CancellationToken;
        using var data = new TempDirectory("m2m-apphost-run");
        // Four distinct ports; the AppHost's local servers take none of them (it reserves the configured device ports).
        int[] ports = [ServerProcess.FreePort(), ServerProcess.FreePort(), ServerProcess.FreePort(), ServerProcess.FreePort()];
        const string password = "apphost-admin-1";
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.M2M_AppHost>(
        [
            "M2M:Topology=distributed", $"M2M:DataDirectory={data.Path}", $"Parameters:admin-password={password}",
            $"M2M:Distributed:M2mpPorts={ports[0]},{ports[1]}", $"M2M:Distributed:AlipPorts={ports[2]},{ports[3]}",
        ], ct);
        await using var app = await builder.BuildAsync(ct);
        if (!File.Exists(Path.Combine(Path.GetDirectoryName(new Projects.M2M_IngestNode().ProjectPath)!, "bin", Configuration, "net10.0", "M2M.Storage.Postgres.dll")))
        {
            Assert.Skip("The roles are built without the PostgreSQL backend (M2M.Storage.Postgres).");
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(StartTimeout);
        await app.StartAsync(timeout.Token);
        foreach (var resource in new[] { "api", "ingest-a", "ingest-b", "writer" })
        {
            await app.ResourceNotifications.WaitForResourceHealthyAsync(resource, timeout.Token);
        }

        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, ports[3], timeout.Token);
        var stream = client.GetStream();
        using var reader = new StreamReader(stream, Encoding.ASCII);
        await stream.WriteAsync("ID imei:35400000000042\nE 1700000000 T 21.5\nA 1\n"u8.ToArray(), timeout.Token);
        Assert.Equal("ID 1", await reader.ReadLineAsync(timeout.Token));
        string? line;
        while ((line = await reader.ReadLineAsync(timeout.Token)) != "B 1")
        {
            Assert.NotNull(line);
        }

        using var http = app.CreateHttpClient("api", "http");
        var login = await http.PostAsJsonAsync("/api/auth/token", new { user = "admin", password }, timeout.Token);
        login.EnsureSuccessStatusCode();
        var token = (string?)(await login.Content.ReadFromJsonAsync<JsonObject>(timeout.Token))?["access_token"];
        http.DefaultRequestHeaders.Authorization = new("Bearer", token);
        var device = await http.GetFromJsonAsync<JsonObject>("/api/devices/by-ident/imei:35400000000042", timeout.Token);
        JsonArray? items = null;
        while (items is not { Count: > 0 })
        {
            await Task.Delay(200, timeout.Token);
            items = (await http.GetFromJsonAsync<JsonObject>($"/api/devices/{device!["id"]}/data?type=sen:temp", timeout.Token))?["items"]?.AsArray();
        }
        Assert.Equal("\"21.5\"", items[0]!["data"]!.ToJsonString());
        Assert.True((bool)device!["connected"]!);
    }

    private static string Configuration =>
        AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";
}
