using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using M2M.Ingest.Hosting;
using static M2M.Api.Tests.Http;

namespace M2M.Api.Tests;

/// <summary>
/// The API and a real device on the server's ALIP port (configured 0; the bound port is read from
/// <see cref="IngestEndpoints"/>): settings and commands flow API → registry → bus → session →
/// socket and back; firmware uploaded over HTTP is read by the device with <c>F</c> lines.
/// </summary>
[Collection(ApiCollection.Name)]
public class DeviceEndToEndTests(ApiFixture fixture)
{
    private HttpClient Admin => fixture.Admin;

    /// <summary>A device's ALIP connection: write lines, wait for a line matching a condition.</summary>
    private sealed class AlipDevice : IAsyncDisposable
    {
        private readonly TcpClient _client;
        private readonly StreamReader _reader;
        private readonly Stream _stream;

        private AlipDevice(TcpClient client)
        {
            _client = client;
            _stream = client.GetStream();
            _reader = new StreamReader(_stream, Encoding.ASCII);
        }

        public static async Task<AlipDevice> ConnectAsync(ApiHost host)
        {
            var endpoints = host.Get<IngestEndpoints>();
            await endpoints.Started.WaitAsync(TimeSpan.FromSeconds(10), Ct);
            var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, endpoints.Alip!.Port, Ct);
            return new AlipDevice(client);
        }

        public async Task SendAsync(string line) => await _stream.WriteAsync(Encoding.ASCII.GetBytes(line + "\n"), Ct);

        /// <summary>Reads lines until one satisfies <paramref name="match"/>; fails after 15 s.</summary>
        public async Task<string> ExpectAsync(Func<string, bool> match, string what)
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            cts.CancelAfter(TimeSpan.FromSeconds(15));
            var seen = new List<string>();
            try
            {
                while (await _reader.ReadLineAsync(cts.Token) is { } line)
                {
                    if (match(line))
                    {
                        return line;
                    }
                    seen.Add(line);
                }
            }
            catch (OperationCanceledException) when (!Ct.IsCancellationRequested)
            {
            }
            Assert.Fail($"expected {what}; got: {string.Join(" | ", seen)}");
            return null!;
        }

        public async ValueTask DisposeAsync()
        {
            _reader.Dispose();
            _client.Dispose();
            await Task.CompletedTask;
        }
    }

    /// <summary>A device created through the API; <c>Login</c> is what it sends after <c>ID</c>: its ident and generated secret.</summary>
    private async Task<(string Id, string Login)> NewDeviceAsync()
    {
        var ident = DevicesTests.NewIdent();
        var created = await DevicesTests.CreateDeviceAsync(Admin, ident);
        return (created.GetProperty("id").GetString()!, $"{ident} {created.GetProperty("secret").GetString()}");
    }

    [Fact]
    public async Task Setting_set_through_the_api_reaches_the_device_and_its_ack_shows_in_the_api()
    {
        var (id, login) = await NewDeviceAsync();
        await using var device = await AlipDevice.ConnectAsync(fixture.Host);
        await device.SendAsync($"ID {login}");
        await device.ExpectAsync(l => l == "ID 1", "ID 1");
        await PollAsync(async () => await (await Admin.GetAsync($"/api/devices/{id}", Ct)).JsonAsync(), d => d.GetProperty("connected").GetBoolean(), "connected");

        var put = await Admin.PutAsJsonAsync($"/api/devices/{id}/settings", new Dictionary<string, string> { ["gps_period"] = "60" }, Ct);
        await device.ExpectAsync(l => l == "S S gps_period 60", "S S gps_period 60");
        var before = await (await Admin.GetAsync($"/api/devices/{id}/settings", Ct)).JsonAsync();
        await device.SendAsync("S A gps_period 60");
        var after = await PollAsync(
            async () => (await (await Admin.GetAsync($"/api/devices/{id}/settings", Ct)).JsonAsync()).GetProperty("gps_period"),
            s => s.GetProperty("ackedAt").ValueKind != JsonValueKind.Null,
            "ack of gps_period");

        Assert.Equal(HttpStatusCode.Accepted, put.StatusCode);
        Assert.True(before.GetProperty("gps_period").GetProperty("pending").GetBoolean());
        Assert.False(after.GetProperty("pending").GetBoolean());
        Assert.Equal("60", after.GetProperty("value").GetString());
    }

    [Fact]
    public async Task Record_times_in_the_api_are_exactly_the_times_the_device_sent()
    {
        var (id, ident) = await NewDeviceAsync();
        await using var device = await AlipDevice.ConnectAsync(fixture.Host);
        await device.SendAsync($"ID {ident}");
        await device.ExpectAsync(l => l == "ID 1", "ID 1");

        // Two values of one instant and one of the next second, then the delivery barrier.
        await device.SendAsync("E 1700000000 T 21.5");
        await device.SendAsync("E 1700000000 T 21.7");
        await device.SendAsync("E 1700000001 T 21.9");
        await device.SendAsync("A times");
        await device.ExpectAsync(l => l == "B times", "B times");

        var page = await (await Admin.GetAsync($"/api/devices/{id}/data?type=sen:temp&order=asc", Ct)).JsonAsync();
        var items = page.GetProperty("items").EnumerateArray().Select(r => (Time: r.GetProperty("time").GetString(), Data: r.GetProperty("data").GetString())).ToList();
        Assert.Equal(3, items.Count);
        Assert.Equal(["2023-11-14T22:13:20+00:00", "2023-11-14T22:13:20+00:00", "2023-11-14T22:13:21+00:00"], items.Select(i => i.Time));
        Assert.Equal(["21.5", "21.7"], items.Take(2).Select(i => i.Data).Order(StringComparer.Ordinal));
        Assert.Equal("21.9", items[2].Data);
        var latest = await (await Admin.GetAsync($"/api/devices/{id}/data/latest", Ct)).JsonAsync();
        Assert.Equal("2023-11-14T22:13:21+00:00", latest.GetProperty("sen:temp").GetProperty("time").GetString());
    }

    [Fact]
    public async Task Command_queued_while_offline_is_delivered_at_identification_and_acknowledged()
    {
        var (id, login) = await NewDeviceAsync();
        var created = await (await Admin.PostAsJsonAsync($"/api/devices/{id}/commands", new { text = "reboot now" }, Ct)).JsonAsync();
        var commandId = created.GetProperty("id").GetString();

        await using var device = await AlipDevice.ConnectAsync(fixture.Host);
        await device.SendAsync($"ID {login}");
        var line = await device.ExpectAsync(l => l.StartsWith("C ", StringComparison.Ordinal) && l.EndsWith(" reboot now", StringComparison.Ordinal), "C <n> reboot now");
        var n = line.Split(' ')[1];
        var sent = await PollAsync(
            async () => await (await Admin.GetAsync($"/api/devices/{id}/commands/{commandId}", Ct)).JsonAsync(),
            c => c.GetProperty("state").GetString() != "pending",
            "command sent");
        await device.SendAsync($"C A {n} rebooting in 5s");
        var acked = await PollAsync(
            async () => await (await Admin.GetAsync($"/api/devices/{id}/commands/{commandId}", Ct)).JsonAsync(),
            c => c.GetProperty("state").GetString() == "acknowledged",
            "command acknowledged");

        Assert.Equal("pending", created.GetProperty("state").GetString());
        Assert.Equal("sent", sent.GetProperty("state").GetString());
        Assert.NotEqual(JsonValueKind.Null, acked.GetProperty("sentAt").ValueKind);
        Assert.NotEqual(JsonValueKind.Null, acked.GetProperty("ackedAt").ValueKind);
        Assert.Equal("rebooting in 5s", acked.GetProperty("response").GetString());
    }

    [Fact]
    public async Task A_multi_line_command_queued_before_an_ALIP_device_identifies_fails_with_its_reason_and_the_next_one_is_sent()
    {
        var (id, ident) = await NewDeviceAsync();
        var multi = (await (await Admin.PostAsJsonAsync($"/api/devices/{id}/commands", new { text = "line 1\nline 2" }, Ct)).JsonAsync()).GetProperty("id").GetString();
        var single = (await (await Admin.PostAsJsonAsync($"/api/devices/{id}/commands", new { text = "reboot" }, Ct)).JsonAsync()).GetProperty("id").GetString();

        await using var device = await AlipDevice.ConnectAsync(fixture.Host);
        await device.SendAsync($"ID {ident}");
        await device.ExpectAsync(l => l == "ID 1", "ID 1");
        Assert.Equal("C 1 reboot", await device.ExpectAsync(l => l.StartsWith("C ", StringComparison.Ordinal), "the single-line command"));
        var failed = await PollAsync(
            async () => await (await Admin.GetAsync($"/api/devices/{id}/commands/{multi}", Ct)).JsonAsync(),
            c => c.GetProperty("state").GetString() == "failed",
            "the multi-line command failed");
        var sent = await PollAsync(
            async () => await (await Admin.GetAsync($"/api/devices/{id}/commands/{single}", Ct)).JsonAsync(),
            c => c.GetProperty("state").GetString() == "sent",
            "the single-line command marked sent");
        var deviceView = await (await Admin.GetAsync($"/api/devices/{id}", Ct)).JsonAsync();
        var refused = await Admin.PostAsJsonAsync($"/api/devices/{id}/commands", new { text = "again\ntwo lines" }, Ct);

        Assert.Contains("one line", failed.GetProperty("failure").GetString(), StringComparison.Ordinal);
        Assert.Equal(JsonValueKind.Null, failed.GetProperty("sentAt").ValueKind);
        Assert.NotEqual(JsonValueKind.Null, sent.GetProperty("sentAt").ValueKind);
        Assert.Equal("alip", deviceView.GetProperty("protocol").GetString());
        await refused.AssertProblemAsync(400, "text");
    }

    [Fact]
    public async Task Disconnect_through_the_api_closes_the_device_connection()
    {
        var (id, login) = await NewDeviceAsync();
        await using var device = await AlipDevice.ConnectAsync(fixture.Host);
        await device.SendAsync($"ID {login}");
        await device.ExpectAsync(l => l == "ID 1", "ID 1");
        await PollAsync(async () => await (await Admin.GetAsync($"/api/devices/{id}", Ct)).JsonAsync(), d => d.GetProperty("connected").GetBoolean(), "connected");

        var response = await Admin.PostAsync($"/api/devices/{id}/disconnect", null, Ct);
        // Offline, lastSeen comes from the device's newest record: the session's _server records reach storage through the batch writer.
        var after = await PollAsync(
            async () => await (await Admin.GetAsync($"/api/devices/{id}", Ct)).JsonAsync(),
            d => !d.GetProperty("connected").GetBoolean() && d.GetProperty("lastSeen").ValueKind != JsonValueKind.Null,
            "disconnected with a last-seen time");

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.InRange(after.GetProperty("lastSeen").GetDateTimeOffset(), DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddMinutes(1));
    }

    [Fact]
    public async Task Firmware_of_100_MiB_uploaded_over_http_is_read_identically_over_alip_and_http_ranges()
    {
        const int size = 100 * 1024 * 1024;
        var content = new byte[size];
        new Random(42).NextBytes(content);
        var name = $"fw-{Guid.NewGuid():N}.bin";

        var put = await Admin.PutAsync($"/api/firmware/{name}", new StreamContent(new MemoryStream(content, writable: false)), Ct);
        (await Admin.PutAsJsonAsync($"/api/firmware/{name}/domains", new { allDomains = true }, Ct)).EnsureSuccessStatusCode();
        Assert.Equal(HttpStatusCode.Created, put.StatusCode);

        // Through ALIP: select, size, chunks at the start, middle and end.
        var (_, login) = await NewDeviceAsync();
        await using (var device = await AlipDevice.ConnectAsync(fixture.Host))
        {
            await device.SendAsync($"ID {login}");
            await device.ExpectAsync(l => l == "ID 1", "ID 1");
            await device.SendAsync($"F N {name}");
            Assert.Equal("F N 1", await device.ExpectAsync(l => l.StartsWith("F N ", StringComparison.Ordinal), "F N 1"));
            await device.SendAsync("F S");
            Assert.Equal($"F S {size}", await device.ExpectAsync(l => l.StartsWith("F S", StringComparison.Ordinal), "F S"));
            foreach (var offset in new long[] { 0, 4096, size / 2 - 100, size / 2 + 524_288 - 7, size - 4096, size - 10 })
            {
                await device.SendAsync($"F G {offset} 4096");
                var line = await device.ExpectAsync(l => l.StartsWith($"F G {offset} ", StringComparison.Ordinal), $"F G {offset}");
                var chunk = Convert.FromHexString(line[$"F G {offset} ".Length..]);
                var expected = content.AsSpan((int)offset, (int)Math.Min(4096, size - offset)).ToArray();
                Assert.Equal(expected, chunk);
            }
        }

        // Through HTTP: ranges, then the whole file.
        foreach (var (from, to) in new[] { (0L, 65_535L), (size / 2L - 1000, size / 2L + 1000), (size - 5000L, size - 1L) })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/firmware/{name}");
            request.Headers.Range = new RangeHeaderValue(from, to);
            var response = await Admin.SendAsync(request, Ct);
            Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
            Assert.Equal(content.AsSpan((int)from, (int)(to - from + 1)).ToArray(), await response.Content.ReadAsByteArrayAsync(Ct));
        }
        using var whole = await Admin.GetAsync($"/api/firmware/{name}", HttpCompletionOption.ResponseHeadersRead, Ct);
        await using var stream = await whole.Content.ReadAsStreamAsync(Ct);
        var hash = await SHA256.HashDataAsync(stream, Ct);

        Assert.Equal(size, whole.Content.Headers.ContentLength);
        Assert.Equal(SHA256.HashData(content), hash);
    }
}
