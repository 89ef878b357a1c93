using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using static M2M.Api.Tests.Http;

namespace M2M.Api.Tests;

[Collection(ApiCollection.Name)]
public class AdminTests(ApiFixture fixture)
{
    private HttpClient Admin => fixture.Admin;

    private static string NewName(string prefix) => prefix + Guid.NewGuid().ToString("N")[..10];

    [Fact]
    public async Task Domains_are_created_listed_renamed_and_deleted()
    {
        var name = NewName("d");

        var created = await Admin.PostAsJsonAsync("/api/domains", new { name }, Ct);
        var id = (await created.JsonAsync()).GetProperty("id").GetString();
        var duplicate = await Admin.PostAsJsonAsync("/api/domains", new { name }, Ct);
        var list = await (await Admin.GetAsync("/api/domains?limit=1000", Ct)).JsonAsync();
        var renamed = await (await Admin.PatchAsJsonAsync($"/api/domains/{id}", new { name = name + "x" }, Ct)).JsonAsync();
        var deleted = await Admin.DeleteAsync($"/api/domains/{id}", Ct);
        var gone = await Admin.GetAsync($"/api/domains/{id}", Ct);

        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        await duplicate.AssertProblemAsync(409);
        Assert.Contains(list.GetProperty("items").EnumerateArray(), d => d.GetProperty("name").GetString() == name);
        Assert.Contains(list.GetProperty("items").EnumerateArray(), d => d.GetProperty("name").GetString() == "default");
        Assert.Equal(name + "x", renamed.GetProperty("name").GetString());
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        await gone.AssertProblemAsync(404);
    }

    [Fact]
    public async Task Users_and_domains_are_listed_in_pages_and_read_by_id()
    {
        var domain = NewName("d");
        var domainId = (await (await Admin.PostAsJsonAsync("/api/domains", new { name = domain }, Ct)).JsonAsync()).GetProperty("id").GetString();
        var names = new List<string>();
        string? firstId = null;
        for (var i = 0; i < 3; i++)
        {
            names.Add(NewName("u"));
            var created = await (await Admin.PostAsJsonAsync("/api/users", new { name = names[^1], password = "password-1234", domain }, Ct)).JsonAsync();
            firstId ??= created.GetProperty("id").GetString();
        }

        var seen = new List<string>();
        string? cursor = null;
        do
        {
            var page = await (await Admin.GetAsync("/api/users?limit=2" + (cursor is null ? "" : $"&cursor={Uri.EscapeDataString(cursor)}"), Ct)).JsonAsync();
            seen.AddRange(page.GetProperty("items").EnumerateArray().Select(u => u.GetProperty("name").GetString()!));
            cursor = page.GetProperty("next").ValueKind == JsonValueKind.Null ? null : page.GetProperty("next").GetString();
        }
        while (cursor is not null);
        var byId = await (await Admin.GetAsync($"/api/domains/{domainId}", Ct)).JsonAsync();
        var user = await (await Admin.GetAsync($"/api/users/{firstId}", Ct)).JsonAsync();

        Assert.Equal(seen.Order(StringComparer.Ordinal), seen);
        Assert.Equal(seen.Count, seen.Distinct().Count());
        Assert.Subset(seen.ToHashSet(), names.Append("admin").ToHashSet());
        Assert.Equal(domain, byId.GetProperty("name").GetString());
        Assert.Equal(names[0], user.GetProperty("name").GetString());
        Assert.Equal(domain, user.GetProperty("domain").GetString());
        Assert.Equal("user", user.GetProperty("role").GetString());
    }

    [Fact]
    public async Task Domain_with_devices_cannot_be_deleted()
    {
        var name = NewName("d");
        var id = (await (await Admin.PostAsJsonAsync("/api/domains", new { name }, Ct)).JsonAsync()).GetProperty("id").GetString();
        await DevicesTests.CreateDeviceAsync(Admin, domain: name);

        var response = await Admin.DeleteAsync($"/api/domains/{id}", Ct);

        await response.AssertProblemAsync(409);
    }

    [Theory]
    [InlineData("{\"name\":\"Bad Name\"}", "name")]
    [InlineData("{}", "name")]
    [InlineData("{\"name\":\"ok\",\"x\":1}", "x")]
    public async Task Bad_domain_is_400(string json, string field)
    {
        var response = await Admin.PostAsync("/api/domains", RawJson(json), Ct);

        await response.AssertProblemAsync(400, field);
    }

    [Fact]
    public async Task Users_are_created_without_exposing_passwords_and_can_log_in()
    {
        var name = NewName("u");

        var created = await Admin.PostAsJsonAsync("/api/users", new { name, password = "first-password", domain = "default" }, Ct);
        var text = await created.Content.ReadAsStringAsync(Ct);
        using var client = await fixture.Host.LoginAsync(name, "first-password");
        var me = await (await client.GetAsync("/api/auth/me", Ct)).JsonAsync();

        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.DoesNotContain("first-password", text, StringComparison.Ordinal);
        Assert.DoesNotContain("hash", text, StringComparison.OrdinalIgnoreCase);
        Assert.Equal("user", me.GetProperty("role").GetString());
    }

    [Fact]
    public async Task User_is_renamed_moved_given_a_new_password_and_deleted()
    {
        var name = NewName("u");
        var domain = NewName("d");
        await Admin.PostAsJsonAsync("/api/domains", new { name = domain }, Ct);
        var id = (await (await Admin.PostAsJsonAsync("/api/users", new { name, password = "first-password", domain = "default" }, Ct)).JsonAsync()).GetProperty("id").GetString();

        var patched = await (await Admin.PatchAsJsonAsync($"/api/users/{id}", new { name = name + "z", domain, displayName = "Zed" }, Ct)).JsonAsync();
        var password = await Admin.PutAsJsonAsync($"/api/users/{id}/password", new { password = "second-password" }, Ct);
        var oldLogin = await fixture.Host.Anonymous.PostAsJsonAsync("/api/auth/token", new { user = name + "z", password = "first-password" }, Ct);
        using var client = await fixture.Host.LoginAsync(name + "z", "second-password");
        var deleted = await Admin.DeleteAsync($"/api/users/{id}", Ct);
        var afterDelete = await fixture.Host.Anonymous.PostAsJsonAsync("/api/auth/token", new { user = name + "z", password = "second-password" }, Ct);

        Assert.Equal(name + "z", patched.GetProperty("name").GetString());
        Assert.Equal(domain, patched.GetProperty("domain").GetString());
        Assert.Equal("Zed", patched.GetProperty("displayName").GetString());
        Assert.Equal(HttpStatusCode.NoContent, password.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, oldLogin.StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, afterDelete.StatusCode);
    }

    [Fact]
    public async Task Moved_device_becomes_visible_to_the_new_domain_only()
    {
        var (userA, domainA) = await fixture.Host.NewDomainUserAsync(Admin);
        var (userB, domainB) = await fixture.Host.NewDomainUserAsync(Admin);
        var id = (await DevicesTests.CreateDeviceAsync(Admin, domain: domainA)).GetProperty("id").GetString();

        var before = await userB.GetAsync($"/api/devices/{id}", Ct);
        await Admin.PatchAsJsonAsync($"/api/devices/{id}", new { domain = domainB }, Ct);
        var afterB = await userB.GetAsync($"/api/devices/{id}", Ct);
        var afterA = await userA.GetAsync($"/api/devices/{id}", Ct);

        Assert.Equal(HttpStatusCode.NotFound, before.StatusCode);
        Assert.Equal(HttpStatusCode.OK, afterB.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, afterA.StatusCode);
    }

    [Theory]
    [InlineData("{\"name\":\"Bad Name\",\"password\":\"long-enough\",\"domain\":\"default\"}", "name")]
    [InlineData("{\"name\":\"okname\",\"password\":\"short\",\"domain\":\"default\"}", "password")]
    [InlineData("{\"name\":\"okname\",\"password\":\"long-enough\",\"domain\":\"no-such-domain\"}", "domain")]
    [InlineData("{\"name\":\"okname\",\"password\":\"long-enough\"}", "domain")]
    [InlineData("{\"name\":\"okname\",\"password\":\"long-enough\",\"domain\":\"default\",\"role\":\"Not A Role\"}", "role")]
    public async Task Bad_user_is_400_naming_the_field(string json, string field)
    {
        var response = await Admin.PostAsync("/api/users", RawJson(json), Ct);

        await response.AssertProblemAsync(400, field);
    }

    [Fact]
    public async Task Unknown_user_and_domain_ids_are_404_and_invalid_ids_400()
    {
        await (await Admin.GetAsync($"/api/users/{Guid.NewGuid()}", Ct)).AssertProblemAsync(404);
        await (await Admin.DeleteAsync($"/api/domains/{Guid.NewGuid()}", Ct)).AssertProblemAsync(404);
        await (await Admin.GetAsync("/api/users/xyz", Ct)).AssertProblemAsync(400, "id");
    }

    [Fact]
    public async Task Registry_shows_values_and_children_sets_values_and_soft_deletes()
    {
        var node = $"diag/{Guid.NewGuid():N}";

        var put = await Admin.PutAsJsonAsync($"/api/registry/{node}/child", new Dictionary<string, string> { ["a"] = "1" }, Ct);
        var parent = await (await Admin.GetAsync($"/api/registry/{node}", Ct)).JsonAsync();
        var child = await (await Admin.GetAsync($"/api/registry/{node}/child", Ct)).JsonAsync();
        var root = await (await Admin.GetAsync("/api/registry/", Ct)).JsonAsync();
        var deleted = await Admin.DeleteAsync($"/api/registry/{node}", Ct);
        var gone = await Admin.GetAsync($"/api/registry/{node}/child", Ct);

        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        Assert.Contains("child", parent.GetProperty("children").EnumerateArray().Select(c => c.GetString()));
        Assert.Equal("1", child.GetProperty("values").GetProperty("a").GetString());
        Assert.Equal("/", root.GetProperty("path").GetString());
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        await gone.AssertProblemAsync(404);
    }

    [Fact]
    public async Task Registry_refuses_bad_paths_and_values()
    {
        await (await Admin.GetAsync("/api/registry/a//b", Ct)).AssertProblemAsync(400, "path");
        await (await Admin.PutAsync("/api/registry/x", RawJson("{}"), Ct)).AssertProblemAsync(400, "$");
        await (await Admin.DeleteAsync("/api/registry/", Ct)).AssertProblemAsync(400, "path");
    }

    [Fact]
    public async Task Openapi_document_lists_the_routes()
    {
        var doc = await (await fixture.Host.Anonymous.GetAsync("/openapi/v1.json", Ct)).JsonAsync();

        var paths = doc.GetProperty("paths").EnumerateObject().Select(p => p.Name).ToList();
        Assert.Contains("/api/devices", paths);
        Assert.Contains("/api/auth/token", paths);
        Assert.True(doc.GetProperty("components").GetProperty("securitySchemes").TryGetProperty("Bearer", out _));
        // Per operation, so that the anonymous routes carry none (OpenApiTests checks every operation).
        Assert.Equal(JsonValueKind.Array, doc.GetProperty("paths").GetProperty("/api/devices").GetProperty("get").GetProperty("security").ValueKind);
    }
}
