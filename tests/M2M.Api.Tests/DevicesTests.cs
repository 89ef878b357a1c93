using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using static M2M.Api.Tests.Http;

namespace M2M.Api.Tests;

[Collection(ApiCollection.Name)]
public class DevicesTests(ApiFixture fixture)
{
    private HttpClient Admin => fixture.Admin;

    internal static string NewIdent() => "imei:" + Random.Shared.NextInt64(100_000_000_000, 999_999_999_999);

    internal static async Task<JsonElement> CreateDeviceAsync(HttpClient client, string? ident = null, string? domain = null, string? displayName = null)
    {
        var response = await client.PostAsJsonAsync("/api/devices", new { ident = ident ?? NewIdent(), displayName, domain }, Ct);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return await response.JsonAsync();
    }

    /// <summary>The identification of a device created through the API: its ident and the secret generated for it.</summary>
    internal static string Identification(JsonElement created) =>
        $"{created.GetProperty("ident").GetString()} {created.GetProperty("secret").GetString()}";

    [Fact]
    public async Task Create_get_by_id_and_by_ident()
    {
        var ident = NewIdent();
        var created = await CreateDeviceAsync(Admin, ident, displayName: "Truck 7");
        var id = created.GetProperty("id").GetString();

        var byId = await (await Admin.GetAsync($"/api/devices/{id}", Ct)).JsonAsync();
        var byIdent = await (await Admin.GetAsync($"/api/devices/by-ident/{Uri.EscapeDataString(ident)}", Ct)).JsonAsync();

        Assert.Equal(ident, byId.GetProperty("ident").GetString());
        Assert.Equal("Truck 7", byId.GetProperty("displayName").GetString());
        Assert.Equal("default", byId.GetProperty("domain").GetString());
        Assert.False(byId.GetProperty("connected").GetBoolean());
        Assert.Equal(JsonValueKind.Null, byId.GetProperty("lastSeen").ValueKind);
        Assert.Equal(id, byIdent.GetProperty("id").GetString());
    }

    [Fact]
    public async Task Created_answer_points_to_the_device()
    {
        var response = await Admin.PostAsJsonAsync("/api/devices", new { ident = NewIdent() }, Ct);
        var id = (await response.JsonAsync()).GetProperty("id").GetString();

        Assert.Equal($"/api/devices/{id}", response.Headers.Location?.OriginalString);
    }

    [Fact]
    public async Task Duplicate_ident_is_409()
    {
        var ident = NewIdent();
        await CreateDeviceAsync(Admin, ident);

        var response = await Admin.PostAsJsonAsync("/api/devices", new { ident }, Ct);

        await response.AssertProblemAsync(409);
    }

    [Theory]
    [InlineData("{\"ident\":\"has space\"}", "ident")]
    [InlineData("{\"ident\":\"\"}", "ident")]
    [InlineData("{}", "ident")]
    [InlineData("{\"ident\":\"imei:1234\",\"colour\":\"red\"}", "colour")]
    [InlineData("{\"ident\":\"imei:1234\",\"domain\":\"no-such-domain\"}", "domain")]
    [InlineData("{\"ident\":5}", "ident")]
    [InlineData("[1,2]", "$")]
    [InlineData("not json", "$")]
    public async Task Bad_create_body_is_400_naming_the_field(string json, string field)
    {
        var response = await Admin.PostAsync("/api/devices", RawJson(json), Ct);

        await response.AssertProblemAsync(400, field);
    }

    [Fact]
    public async Task Oversize_body_is_refused_with_413()
    {
        var big = "{\"ident\":\"imei:1\",\"displayName\":\"" + new string('x', 2 * 1024 * 1024) + "\"}";

        // With "Expect: 100-continue" the client waits for the server's verdict before sending the body:
        // without it, the 413 and the closed connection may reach the client while it is still writing (broken pipe).
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/devices") { Content = RawJson(big) };
        request.Headers.ExpectContinue = true;
        var response = await Admin.SendAsync(request, Ct);

        await response.AssertProblemAsync(413);
    }

    [Fact]
    public async Task Body_limit_is_configurable_and_does_not_apply_to_uploads()
    {
        await using var host = await ApiHost.StartAsync("--M2M:Api:MaxRequestBodyBytes", "200");
        using var admin = await host.LoginAsync();

        var small = await admin.PostAsJsonAsync("/api/devices", new { ident = NewIdent() }, Ct);
        var large = await admin.PostAsJsonAsync("/api/devices", new { ident = NewIdent(), displayName = new string('x', 190) }, Ct);
        var upload = await admin.PutAsync("/api/files/limit/big.bin", new ByteArrayContent(new byte[64 * 1024]), Ct);

        Assert.Equal(HttpStatusCode.Created, small.StatusCode);
        await large.AssertProblemAsync(413);
        Assert.Equal(HttpStatusCode.Created, upload.StatusCode);
    }

    [Theory]
    [InlineData("/api/devices/not-a-guid")]
    [InlineData("/api/devices/not-a-guid/settings")]
    [InlineData("/api/devices/not-a-guid/commands")]
    [InlineData("/api/devices/not-a-guid/data")]
    [InlineData("/api/devices/not-a-guid/status")]
    public async Task Invalid_device_id_is_400_naming_id(string url)
    {
        var response = await Admin.GetAsync(url, Ct);

        await response.AssertProblemAsync(400, "id");
    }

    [Theory]
    [InlineData("/api/devices/{0}")]
    [InlineData("/api/devices/{0}/settings")]
    [InlineData("/api/devices/{0}/commands")]
    [InlineData("/api/devices/{0}/data")]
    [InlineData("/api/devices/{0}/data/latest")]
    [InlineData("/api/devices/{0}/status")]
    public async Task Unknown_device_is_404(string url)
    {
        var response = await Admin.GetAsync(string.Format(System.Globalization.CultureInfo.InvariantCulture, url, Guid.NewGuid()), Ct);

        await response.AssertProblemAsync(404);
    }

    [Fact]
    public async Task Unknown_ident_is_404_and_invalid_ident_400()
    {
        await (await Admin.GetAsync("/api/devices/by-ident/imei:000000000001x", Ct)).AssertProblemAsync(404);
        await (await Admin.GetAsync("/api/devices/by-ident/%20bad%20", Ct)).AssertProblemAsync(400, "ident");
    }

    [Fact]
    public async Task Patch_changes_display_name_and_domain_and_delete_removes()
    {
        var (_, domain) = await fixture.Host.NewDomainUserAsync(Admin);
        var id = (await CreateDeviceAsync(Admin, displayName: "old")).GetProperty("id").GetString();

        var patched = await Admin.PatchAsJsonAsync($"/api/devices/{id}", new { displayName = "new", domain }, Ct);
        var body = await patched.JsonAsync();
        var cleared = await (await Admin.PatchAsJsonAsync($"/api/devices/{id}", new { displayName = "" }, Ct)).JsonAsync();
        var deleted = await Admin.DeleteAsync($"/api/devices/{id}", Ct);
        var afterDelete = await Admin.GetAsync($"/api/devices/{id}", Ct);
        var deletedAgain = await Admin.DeleteAsync($"/api/devices/{id}", Ct);

        Assert.Equal(HttpStatusCode.OK, patched.StatusCode);
        Assert.Equal("new", body.GetProperty("displayName").GetString());
        Assert.Equal(domain, body.GetProperty("domain").GetString());
        Assert.Equal(JsonValueKind.Null, cleared.GetProperty("displayName").ValueKind);
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, afterDelete.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, deletedAgain.StatusCode);
    }

    [Fact]
    public async Task Patch_to_unknown_domain_is_400()
    {
        var id = (await CreateDeviceAsync(Admin)).GetProperty("id").GetString();

        var response = await Admin.PatchAsJsonAsync($"/api/devices/{id}", new { domain = "no-such-domain" }, Ct);

        await response.AssertProblemAsync(400, "domain");
    }

    [Fact]
    public async Task List_searches_filters_and_pages_with_a_cursor()
    {
        var (_, domain) = await fixture.Host.NewDomainUserAsync(Admin);
        var tag = Guid.NewGuid().ToString("N")[..8];
        var created = new HashSet<string>();
        for (var i = 0; i < 5; i++)
        {
            created.Add((await CreateDeviceAsync(Admin, $"t{tag[..4]}:{tag}{i:D2}", domain)).GetProperty("id").GetString()!);
        }
        await CreateDeviceAsync(Admin, NewIdent(), domain);

        var seen = new List<string>();
        string? cursor = null;
        var pages = 0;
        do
        {
            var url = $"/api/devices?q={tag}&domain={domain}&limit=2" + (cursor is null ? "" : $"&cursor={Uri.EscapeDataString(cursor)}");
            var page = await (await Admin.GetAsync(url, Ct)).JsonAsync();
            seen.AddRange(page.GetProperty("items").EnumerateArray().Select(d => d.GetProperty("id").GetString()!));
            cursor = page.GetProperty("next").ValueKind == JsonValueKind.Null ? null : page.GetProperty("next").GetString();
            pages++;
        }
        while (cursor is not null && pages < 10);

        Assert.Equal(created.Order(), seen.Order());
        Assert.Equal(seen.Count, seen.Distinct().Count());
        Assert.InRange(pages, 3, 4);
    }

    [Theory]
    [InlineData("limit=0", "limit")]
    [InlineData("limit=1001", "limit")]
    [InlineData("limit=abc", "limit")]
    [InlineData("cursor=%%%", "cursor")]
    [InlineData("cursor=bm90LWEtY3Vyc29y", "cursor")]
    [InlineData("domain=no-such-domain", "domain")]
    public async Task Bad_list_query_is_400_naming_the_field(string query, string field)
    {
        var response = await Admin.GetAsync("/api/devices?" + query, Ct);

        await response.AssertProblemAsync(400, field);
    }

    [Fact]
    public async Task Disconnect_of_a_known_device_is_accepted()
    {
        var id = (await CreateDeviceAsync(Admin)).GetProperty("id").GetString();

        var response = await Admin.PostAsync($"/api/devices/{id}/disconnect", null, Ct);
        var unknown = await Admin.PostAsync($"/api/devices/{Guid.NewGuid()}/disconnect", null, Ct);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        await unknown.AssertProblemAsync(404);
    }

    [Fact]
    public async Task Disconnect_publishes_to_the_device_subject()
    {
        var id = Guid.Parse((await CreateDeviceAsync(Admin)).GetProperty("id").GetString()!);
        var bus = fixture.Host.Get<M2M.Messaging.IMessageBus>();
        var received = new TaskCompletionSource<M2M.Messaging.BusMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var subscription = bus.Subscribe(M2M.Messaging.Topics.Device(id), m =>
        {
            received.TrySetResult(m);
            return ValueTask.CompletedTask;
        });

        await Admin.PostAsync($"/api/devices/{id}/disconnect", null, Ct);
        var message = await received.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);

        Assert.Equal(M2M.Messaging.Calls.Disconnect, message.Call);
        Assert.Equal(id.ToString("D"), message.GetString("device_id"));
    }

    [Fact]
    public async Task Status_shows_values_reported_by_the_device()
    {
        var id = Guid.Parse((await CreateDeviceAsync(Admin)).GetProperty("id").GetString()!);
        await fixture.Host.Get<M2M.Storage.Entities.IDeviceStore>().SetStatusAsync(id, "cap", "gps,can", Ct);

        var status = await (await Admin.GetAsync($"/api/devices/{id}/status", Ct)).JsonAsync();

        Assert.Equal("gps,can", status.GetProperty("cap").GetString());
    }
}
