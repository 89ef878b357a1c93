using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using M2M.Testing;

namespace M2M.Operations.Tests;

/// <summary>
/// Forwarding against the started server: a real device over ALIP, a real HTTP receiver, the API.
/// "Every record" is checked against what the server stored (and acknowledged to the device).
/// </summary>
public sealed class ForwardingEndToEndTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Every_acknowledged_record_reaches_the_receiver_signed_and_with_the_device_ident()
    {
        using var data = new TempDirectory("m2m-fwd");
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var server = await InProcessServer.StartAsync(data.Path);
        using var admin = await Api.SignInAsync(server.Http);
        var (_, secret) = await Api.CreateWebhookAsync(admin, receiver.Url);
        receiver.Secret = secret;

        await using var device = await AlipDevice.ConnectAsync(server.Alip);
        for (var i = 0; i < 3; i++)
        {
            await device.SendRecordsAsync(100, i * 100);
        }

        var stored = await StoredRecordsAsync(admin, device.Ident);
        Assert.Equal(300, stored.Count);
        await WebhookReceiver.WaitForAsync(() => Received(receiver).IsSupersetOf(stored), "every stored record at the receiver");
        Assert.Equal(0, receiver.BadSignatures);
        var deviceId = (await Api.GetAsync(admin, $"/api/devices/by-ident/{Uri.EscapeDataString(device.Ident)}")).GetProperty("id").GetString();
        Assert.All(receiver.Items.Values, item =>
        {
            Assert.Equal(deviceId, item.GetProperty("deviceId").GetString());
            Assert.Equal(device.Ident, item.GetProperty("ident").GetString());
            Assert.Equal("record", item.GetProperty("kind").GetString());
        });
        Assert.All(receiver.DeliveryIds, id => Assert.Matches("^[0-9a-f]{32}-[0-9]+-[0-9]+$", id));
    }

    [Fact]
    public async Task Records_stored_during_a_receiver_outage_arrive_when_it_recovers_and_the_status_shows_the_failures()
    {
        using var data = new TempDirectory("m2m-fwd");
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var server = await InProcessServer.StartAsync(data.Path);
        using var admin = await Api.SignInAsync(server.Http);
        var (id, secret) = await Api.CreateWebhookAsync(admin, receiver.Url);
        receiver.Secret = secret;
        receiver.FailWith = 503;

        await using var device = await AlipDevice.ConnectAsync(server.Alip);
        await device.SendRecordsAsync(200);
        JsonElement status = default;
        await WaitForStatusAsync(admin, id, s => (status = s).GetProperty("attempts").GetInt32() >= 2 && s.GetProperty("backlog").GetInt64() >= 200);
        Assert.Contains("503", status.GetProperty("lastError").GetString(), StringComparison.Ordinal);
        Assert.NotEqual(JsonValueKind.Null, status.GetProperty("lastErrorAt").ValueKind);

        receiver.FailWith = 0;
        var stored = await StoredRecordsAsync(admin, device.Ident);
        await WebhookReceiver.WaitForAsync(() => Received(receiver).IsSupersetOf(stored), "every stored record after the outage");
        await WaitForStatusAsync(admin, id, s => s.GetProperty("attempts").GetInt32() == 0 && s.GetProperty("backlog").GetInt64() == 0
            && s.GetProperty("lastSuccessAt").ValueKind != JsonValueKind.Null && s.GetProperty("delivered").GetInt64() >= 200);
    }

    [Fact]
    public async Task The_backlog_survives_a_server_restart()
    {
        using var data = new TempDirectory("m2m-fwd");
        await using var receiver = await WebhookReceiver.StartAsync();
        HashSet<(string, DateTimeOffset)> stored;
        string ident;
        await using (var server = await InProcessServer.StartAsync(data.Path))
        {
            using var admin = await Api.SignInAsync(server.Http);
            (_, receiver.Secret) = await Api.CreateWebhookAsync(admin, receiver.Url);
            receiver.FailWith = 500;
            await using var device = await AlipDevice.ConnectAsync(server.Alip);
            await device.SendRecordsAsync(150);
            ident = device.Ident;
            stored = await StoredRecordsAsync(admin, ident);
        }
        Assert.False(Received(receiver).IsSupersetOf(stored));

        receiver.FailWith = 0;
        await using (var server = await InProcessServer.StartAsync(data.Path))
        {
            await WebhookReceiver.WaitForAsync(() => Received(receiver).IsSupersetOf(stored), "every record stored before the restart");
        }
        Assert.Equal(150, stored.Count);
    }

    [Fact]
    public async Task Acknowledged_records_are_forwarded_after_a_kill_9()
    {
        using var data = new TempDirectory("m2m-fwd");
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.FailWith = 503;
        string ident;
        await using (var server = await ChildServer.StartAsync(data.Path))
        {
            using var admin = await Api.SignInAsync(server.Http);
            (_, receiver.Secret) = await Api.CreateWebhookAsync(admin, receiver.Url);
            await using var device = await AlipDevice.ConnectAsync(server.Alip);
            for (var i = 0; i < 4; i++)
            {
                await device.SendRecordsAsync(100, i * 100);
            }
            ident = device.Ident;
            // Every barrier above was answered: 400 records are acknowledged. No shutdown code runs now.
            await server.KillAsync();
        }

        await using (var server = await ChildServer.StartAsync(data.Path))
        {
            using var admin = await Api.SignInAsync(server.Http);
            var stored = await StoredRecordsAsync(admin, ident);
            Assert.Equal(400, stored.Count);
            receiver.FailWith = 0;
            await WebhookReceiver.WaitForAsync(() => Received(receiver).IsSupersetOf(stored), "every acknowledged record after SIGKILL");
        }
        Assert.Equal(0, receiver.BadSignatures);
    }

    [Fact]
    public async Task A_dead_endpoint_does_not_hold_back_ingest()
    {
        using var data = new TempDirectory("m2m-fwd");
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Hang = true;
        await using var server = await InProcessServer.StartAsync(data.Path, "--M2M:Forwarding:RequestTimeout", "00:10:00");
        using var admin = await Api.SignInAsync(server.Http);
        var (id, _) = await Api.CreateWebhookAsync(admin, receiver.Url);

        await using var device = await AlipDevice.ConnectAsync(server.Alip);
        await device.SendRecordsAsync(10);
        await WebhookReceiver.WaitForAsync(() => receiver.Requests >= 1, "the first delivery to reach the hanging receiver");
        // The receiver holds that delivery; every barrier is still answered, for 20 × 100 more records.
        for (var i = 0; i < 20; i++)
        {
            await device.SendRecordsAsync(100, 10 + (i * 100));
        }
        Assert.Empty(receiver.Items);
        await WaitForStatusAsync(admin, id, s => s.GetProperty("backlog").GetInt64() >= 2010);
    }

    [Fact]
    public async Task A_domain_receives_only_its_own_devices_records_and_its_users_see_only_its_endpoints()
    {
        using var data = new TempDirectory("m2m-fwd");
        await using var receiverA = await WebhookReceiver.StartAsync();
        await using var receiverB = await WebhookReceiver.StartAsync();
        await using var server = await InProcessServer.StartAsync(data.Path);
        using var admin = await Api.SignInAsync(server.Http);
        foreach (var name in new[] { "fwd-a", "fwd-b" })
        {
            Assert.Equal(HttpStatusCode.Created, (await admin.PostAsJsonAsync("/api/domains", new { name }, Ct)).StatusCode);
        }
        Assert.Equal(HttpStatusCode.Created, (await admin.PostAsJsonAsync("/api/users", new { name = "alice.a", password = "alice-password-1", domain = "fwd-a" }, Ct)).StatusCode);
        var (idA, secretA) = await Api.CreateWebhookAsync(admin, receiverA.Url, "fwd-a");
        var (idB, secretB) = await Api.CreateWebhookAsync(admin, receiverB.Url, "fwd-b");
        (receiverA.Secret, receiverB.Secret) = (secretA, secretB);

        await using var device = await AlipDevice.ConnectAsync(server.Alip);
        await device.SendRecordsAsync(1);
        var deviceId = (await Api.GetAsync(admin, $"/api/devices/by-ident/{Uri.EscapeDataString(device.Ident)}")).GetProperty("id").GetString();
        Assert.Equal(HttpStatusCode.OK, (await admin.PatchAsJsonAsync($"/api/devices/{deviceId}", new { domain = "fwd-b" }, Ct)).StatusCode);
        await device.SendRecordsAsync(50, 1);

        var stored = await StoredRecordsAsync(admin, device.Ident);
        await WebhookReceiver.WaitForAsync(() => receiverB.Items.Count >= 50, "the records of domain B's device at B's receiver");
        Assert.Empty(receiverA.Items);
        Assert.Equal(0, receiverA.Requests);

        using var alice = await Api.SignInAsync(server.Http, "alice.a", "alice-password-1");
        var listed = (await Api.GetAsync(alice, "/api/webhooks")).GetProperty("items").EnumerateArray().Select(w => w.GetProperty("id").GetGuid()).ToList();
        Assert.Equal([idA], listed);
        Assert.Equal(HttpStatusCode.NotFound, (await alice.GetAsync($"/api/webhooks/{idB}", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await alice.DeleteAsync($"/api/webhooks/{idB}", Ct)).StatusCode);
        Assert.True(stored.Count >= 50);
    }

    [Fact]
    public async Task An_endpoint_made_by_a_domain_user_cannot_reach_a_private_address()
    {
        using var data = new TempDirectory("m2m-fwd");
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var server = await InProcessServer.StartAsync(data.Path);
        using var admin = await Api.SignInAsync(server.Http);
        Assert.Equal(HttpStatusCode.Created, (await admin.PostAsJsonAsync("/api/users", new { name = "bob.user", password = "bob-password-1", domain = "default" }, Ct)).StatusCode);
        using var bob = await Api.SignInAsync(server.Http, "bob.user", "bob-password-1");
        var (id, _) = await Api.CreateWebhookAsync(bob, receiver.Url);
        Assert.True((await Api.GetAsync(bob, $"/api/webhooks/{id}")).GetProperty("restricted").GetBoolean());

        await using var device = await AlipDevice.ConnectAsync(server.Alip);
        await device.SendRecordsAsync(5);
        await WaitForStatusAsync(admin, id, s => s.GetProperty("lastError").GetString()?.Contains("public address", StringComparison.Ordinal) == true);
        Assert.Equal(0, receiver.Requests);
    }

    [Fact]
    public async Task An_endpoint_taking_events_gets_lifecycle_records_and_bus_events_and_no_measurements()
    {
        using var data = new TempDirectory("m2m-fwd");
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var server = await InProcessServer.StartAsync(data.Path);
        using var admin = await Api.SignInAsync(server.Http);
        (_, receiver.Secret) = await Api.CreateWebhookAsync(admin, receiver.Url, records: false, events: true);

        await using (var device = await AlipDevice.ConnectAsync(server.Alip))
        {
            await device.SendRecordsAsync(20);
        }
        await WebhookReceiver.WaitForAsync(
            () => receiver.Items.Values.Any(i => i.GetProperty("type").GetString() == "_server" && i.GetProperty("data").GetProperty("type").GetString() == "device_disconnected"),
            "the device_disconnected lifecycle record");
        // The first sen:temp record raises the bus event new_data_type: captured into the feed as an event.
        await WebhookReceiver.WaitForAsync(
            () => receiver.Items.Values.Any(i => i.GetProperty("kind").GetString() == "event" && i.GetProperty("type").GetString() == "new_data_type"),
            "the new_data_type event");
        Assert.All(receiver.Items.Values, i => Assert.True(
            i.GetProperty("kind").GetString() == "event" || i.GetProperty("type").GetString() == "_server", i.ToString()));
        Assert.DoesNotContain(receiver.Items.Values, i => i.GetProperty("type").GetString() == "sen:temp");
    }

    [Fact]
    public async Task Forwarding_metrics_are_scraped_with_the_writer_metrics()
    {
        using var data = new TempDirectory("m2m-fwd");
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var server = await InProcessServer.StartAsync(data.Path, "--M2M:Metrics:Prometheus", "true");
        using var admin = await Api.SignInAsync(server.Http);
        var (id, secret) = await Api.CreateWebhookAsync(admin, receiver.Url);
        receiver.Secret = secret;
        await using var device = await AlipDevice.ConnectAsync(server.Alip);
        await device.SendRecordsAsync(30);
        await WebhookReceiver.WaitForAsync(() => receiver.Items.Count >= 30, "the records at the receiver");

        string text = "";
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            text = await admin.GetStringAsync("/metrics", Ct);
            if (text.Contains("m2m_forwarding_items_delivered_total", StringComparison.Ordinal) && text.Contains($"endpoint=\"{id:D}\"", StringComparison.Ordinal))
            {
                break;
            }
            await Task.Delay(200, Ct);
        }
        Assert.Matches(@"(?m)^m2m_forwarding_deliveries_total\{[^}]*outcome=""success""[^}]*\} [1-9]", text);
        Assert.Matches(@"(?m)^m2m_forwarding_items_delivered_total(\{[^}]*\})? [1-9]", text);
        Assert.Matches($@"(?m)^m2m_forwarding_backlog\{{[^}}]*endpoint=""{id:D}""[^}}]*\}} \d", text);
        Assert.Matches(@"(?m)^m2m_forwarding_delivery_duration_seconds_count(\{[^}]*\})? [1-9]", text);
        Assert.Matches(@"(?m)^m2m_storage_commit_duration_seconds_count(\{[^}]*\})? [1-9]", text);
        Assert.Contains("m2m_storage_queue_length", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"name":"x","url":"ftp://example.com/"}""", "url")]
    [InlineData("""{"name":"x","url":"https://user:pw@example.com/"}""", "url")]
    [InlineData("""{"name":"x","url":"/relative"}""", "url")]
    [InlineData("""{"name":"","url":"https://example.com/"}""", "name")]
    [InlineData("""{"name":"x","url":"https://example.com/","domain":"no-such-domain"}""", "domain")]
    public async Task A_bad_endpoint_is_refused_naming_the_field(string body, string field)
    {
        using var data = new TempDirectory("m2m-fwd");
        await using var server = await InProcessServer.StartAsync(data.Path);
        using var admin = await Api.SignInAsync(server.Http);

        var response = await admin.PostAsync("/api/webhooks", new StringContent(body, System.Text.Encoding.UTF8, "application/json"), Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.True((await response.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("errors").TryGetProperty(field, out _));
    }

    [Fact]
    public async Task A_domain_has_at_most_the_configured_number_of_endpoints()
    {
        using var data = new TempDirectory("m2m-fwd");
        await using var server = await InProcessServer.StartAsync(data.Path, "--M2M:Forwarding:MaxEndpointsPerDomain", "2");
        using var admin = await Api.SignInAsync(server.Http);
        var url = new Uri("https://example.com/hook");
        await Api.CreateWebhookAsync(admin, url);
        await Api.CreateWebhookAsync(admin, url);

        var third = await admin.PostAsJsonAsync("/api/webhooks", new { name = "third", url = url.AbsoluteUri }, Ct);

        Assert.Equal(HttpStatusCode.Conflict, third.StatusCode);
    }

    [Fact]
    public async Task A_read_api_key_only_lists_its_domains_endpoints_and_a_write_key_manages_them()
    {
        using var data = new TempDirectory("m2m-fwd");
        await using var server = await InProcessServer.StartAsync(data.Path);
        using var admin = await Api.SignInAsync(server.Http);
        foreach (var name in new[] { "keys-a", "keys-b" })
        {
            Assert.Equal(HttpStatusCode.Created, (await admin.PostAsJsonAsync("/api/domains", new { name }, Ct)).StatusCode);
        }
        var url = new Uri("https://example.com/hook");
        var (idA, _) = await Api.CreateWebhookAsync(admin, url, "keys-a");
        var (idB, _) = await Api.CreateWebhookAsync(admin, url, "keys-b");
        using var reader = await KeyClientAsync(server, admin, "keys-a", "read");
        using var writer = await KeyClientAsync(server, admin, "keys-a", "write");

        var listed = (await Api.GetAsync(reader, "/api/webhooks")).GetProperty("items").EnumerateArray().Select(w => w.GetProperty("id").GetGuid()).ToList();
        var readCreate = await reader.PostAsJsonAsync("/api/webhooks", new { name = "by reader", url = url.AbsoluteUri }, Ct);
        var readDelete = await reader.DeleteAsync($"/api/webhooks/{idA}", Ct);
        var readRotate = await reader.PostAsync($"/api/webhooks/{idA}/rotate-secret", null, Ct);
        var writeCreate = await writer.PostAsJsonAsync("/api/webhooks", new { name = "by writer", url = url.AbsoluteUri }, Ct);
        var writeOther = await writer.DeleteAsync($"/api/webhooks/{idB}", Ct);
        var writeOwn = await writer.DeleteAsync($"/api/webhooks/{idA}", Ct);

        Assert.Equal([idA], listed);
        Assert.Equal(HttpStatusCode.Forbidden, readCreate.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, readDelete.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, readRotate.StatusCode);
        Assert.Equal(HttpStatusCode.Created, writeCreate.StatusCode);
        var created = (await writeCreate.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("webhook");
        Assert.Equal("keys-a", created.GetProperty("domain").GetString());
        Assert.True(created.GetProperty("restricted").GetBoolean());
        Assert.Equal(HttpStatusCode.NotFound, writeOther.StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, writeOwn.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync($"/api/webhooks/{idB}", Ct)).StatusCode);
    }

    /// <summary>A client that authenticates with a new API key of <paramref name="domain"/>.</summary>
    private static async Task<HttpClient> KeyClientAsync(InProcessServer server, HttpClient admin, string domain, string scope)
    {
        var response = await admin.PostAsJsonAsync("/api/apikeys", new { name = $"fwd {scope}", domain, scope }, Ct);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var key = (await response.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("key").GetString();
        var client = new HttpClient { BaseAddress = server.Http };
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    private static HashSet<(string, DateTimeOffset)> Received(WebhookReceiver receiver) =>
        [.. receiver.Items.Values.Where(i => i.GetProperty("kind").GetString() == "record").Select(i => (i.GetProperty("type").GetString()!, i.GetProperty("time").GetDateTimeOffset()))];

    /// <summary>The device's stored records other than lifecycle ones, as (type, time).</summary>
    private static async Task<HashSet<(string, DateTimeOffset)>> StoredRecordsAsync(HttpClient client, string ident)
    {
        var id = (await Api.GetAsync(client, $"/api/devices/by-ident/{Uri.EscapeDataString(ident)}")).GetProperty("id").GetString();
        var page = await Api.GetAsync(client, $"/api/devices/{id}/data?limit=10000");
        return [.. page.GetProperty("items").EnumerateArray()
            .Where(r => r.GetProperty("type").GetString() != "_server")
            .Select(r => (r.GetProperty("type").GetString()!, r.GetProperty("time").GetDateTimeOffset()))];
    }

    private static async Task WaitForStatusAsync(HttpClient client, Guid id, Func<JsonElement, bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(90);
        JsonElement status;
        do
        {
            status = (await Api.GetAsync(client, $"/api/webhooks/{id}")).GetProperty("status");
            if (condition(status))
            {
                return;
            }
            await Task.Delay(100, Ct);
        }
        while (DateTime.UtcNow < deadline);
        Assert.Fail($"The webhook status never matched; last: {status}");
    }
}
