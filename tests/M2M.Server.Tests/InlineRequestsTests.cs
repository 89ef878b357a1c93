using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using M2M.Api.Http;
using M2M.Storage;
using M2M.Testing;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace M2M.Server.Tests;

/// <summary>
/// <c>M2M:Api:InlineRequests</c> in the real server process, with and without the runtime's switch that runs socket
/// completions on the socket threads: the API and the device listeners keep working, and the log says which it is.
/// </summary>
[Collection(ChildServerCollection.Name)]
public sealed class InlineRequestsTests
{
    [Theory]
    [InlineData(true, "Short API reads run on the socket threads")]
    [InlineData(false, "M2M:Api:InlineRequests is on but DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS is not 1")]
    public async Task Inline_requests_serve_reads_commands_and_devices(bool runtimeSwitch, string logged)
    {
        var ct = TestContext.Current.CancellationToken;
        using var data = new TempDirectory("m2m-inline");
        var environment = new Dictionary<string, string> { [InlineRequests.RuntimeSwitch] = runtimeSwitch ? "1" : "0" };
        await using var server = await ServerProcess.StartAsync(data.Path, openFilesLimit: null, environment, "--M2M:Api:InlineRequests", "true");
        Assert.Contains(logged, server.LogText, StringComparison.Ordinal);

        // A device's record is acknowledged durable...
        await using (var device = await LineDevice.IdentifiedAsync(server.Alip, "imei:990000000077"))
        {
            await device.SendAsync("D T 21.5");
            await device.SendAsync("A 1");
            await device.ReadUntilAsync(l => l == "B 1", TimeSpan.FromSeconds(30));
        }

        // ...and read back by the routes that run inline; a login and a command go through the thread pool.
        using var http = new HttpClient { BaseAddress = server.Http, Timeout = TimeSpan.FromSeconds(30) };
        var login = await http.PostAsJsonAsync("/api/auth/token", new { user = "admin", password = "fault-injection-password" }, ct);
        Assert.Equal(HttpStatusCode.OK, login.StatusCode);
        var token = (await login.Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("access_token").GetString();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);

        var found = await http.GetFromJsonAsync<JsonElement>("/api/devices/by-ident/imei:990000000077", ct);
        var id = found.GetProperty("id").GetString();
        Assert.Equal(id, (await http.GetFromJsonAsync<JsonElement>($"/api/devices/{id}", ct)).GetProperty("id").GetString());
        var latest = await http.GetFromJsonAsync<JsonElement>($"/api/devices/{id}/data/latest", ct);
        Assert.Contains(latest.EnumerateObject(), p => p.Name == "sen:temp");
        var page = await http.GetFromJsonAsync<JsonElement>($"/api/devices/{id}/data?type=sen:temp", ct);
        Assert.Equal(1, page.GetProperty("items").GetArrayLength());
        var command = await http.PostAsJsonAsync($"/api/devices/{id}/commands", new { text = "reboot" }, ct);
        Assert.Equal(HttpStatusCode.Created, command.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"/api/devices/{Guid.NewGuid()}/data/latest", ct)).StatusCode);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task The_setting_runs_HTTP_connections_inline_and_leaves_the_device_listeners_alone(bool on)
    {
        using var data = new TempDirectory("m2m-inline");
        await using var app = M2MServer.Build(["--M2M:DataDirectory", data.Path, $"--M2M:Api:InlineRequests={on}"]);

        Assert.Equal(on, app.Services.GetRequiredService<IOptions<SocketTransportOptions>>().Value.UnsafePreferInlineScheduling);
    }

    [Fact]
    public void Inline_requests_are_refused_on_PostgreSQL()
    {
        var error = Assert.Throws<InvalidOperationException>(() => M2MServer.Build(
            [$"--{StorageOptions.BackendKey}=postgres", $"--ConnectionStrings:{StorageOptions.ConnectionStringName}=Host=127.0.0.1;Database=m2m", "--M2M:Api:InlineRequests=true"]));

        Assert.Contains("M2M:Api:InlineRequests needs the RocksDB backend", error.Message, StringComparison.Ordinal);
    }
}
