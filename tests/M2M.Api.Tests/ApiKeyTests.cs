using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using M2M.Storage.Registry;
using Microsoft.AspNetCore.Routing;
using static M2M.Api.Tests.Http;

namespace M2M.Api.Tests;

/// <summary>API keys end to end: created by an admin, scoped, bound to one domain, revocable at once, stored hashed.</summary>
[Collection(ApiCollection.Name)]
public class ApiKeyTests(ApiFixture fixture)
{
    private HttpClient Admin => fixture.Admin;

    private async Task<string> NewDomainAsync()
    {
        var name = "d" + Guid.NewGuid().ToString("N")[..10];
        (await Admin.PostAsJsonAsync("/api/domains", new { name }, Ct)).EnsureSuccessStatusCode();
        return name;
    }

    private async Task<(string Id, string Key)> NewKeyAsync(string domain, string scope, DateTimeOffset? expiresAt = null)
    {
        var response = await Admin.PostAsJsonAsync("/api/apikeys", new { name = $"app {scope}", domain, scope, expiresAt }, Ct);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var body = await response.JsonAsync();
        return (body.GetProperty("id").GetString()!, body.GetProperty("key").GetString()!);
    }

    private async Task<string> NewDeviceAsync(string domain)
    {
        var ident = "k" + Guid.NewGuid().ToString("N")[..12];
        var response = await Admin.PostAsJsonAsync("/api/devices", new { ident, domain }, Ct);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.JsonAsync()).GetProperty("id").GetString()!;
    }

    [Fact]
    public async Task Created_key_is_shown_once_and_listed_without_its_secret()
    {
        var domain = await NewDomainAsync();
        var (id, key) = await NewKeyAsync(domain, "read");

        var one = await (await Admin.GetAsync($"/api/apikeys/{id}", Ct)).JsonAsync();
        var listText = await Admin.GetStringAsync($"/api/apikeys?domain={domain}", Ct);
        var list = JsonDocument.Parse(listText).RootElement;

        Assert.Matches("^m2mk_[0-9a-f]{32}_[A-Za-z0-9_-]{43}$", key);
        Assert.Equal(domain, one.GetProperty("domain").GetString());
        Assert.Equal("read", one.GetProperty("scope").GetString());
        Assert.False(one.TryGetProperty("key", out _));
        Assert.Equal([id], list.GetProperty("items").EnumerateArray().Select(k => k.GetProperty("id").GetString()));
        Assert.DoesNotContain(key[38..], listText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Read_key_reads_its_domain_but_cannot_write()
    {
        var domain = await NewDomainAsync();
        var device = await NewDeviceAsync(domain);
        var (_, key) = await NewKeyAsync(domain, "read");
        using var client = fixture.Host.WithToken(key);

        var list = await client.GetAsync("/api/devices", Ct);
        var one = await client.GetAsync($"/api/devices/{device}", Ct);
        var create = await client.PostAsJsonAsync("/api/devices", new { ident = "x" + Guid.NewGuid().ToString("N")[..10] }, Ct);
        var settings = await client.PutAsJsonAsync($"/api/devices/{device}/settings", new { rate = "5" }, Ct);
        var command = await client.PostAsJsonAsync($"/api/devices/{device}/commands", new { text = "reboot" }, Ct);
        var delete = await client.DeleteAsync($"/api/devices/{device}", Ct);
        var still = await Admin.GetAsync($"/api/devices/{device}", Ct);

        Assert.Equal(HttpStatusCode.OK, list.StatusCode);
        Assert.Equal([device], (await list.JsonAsync()).GetProperty("items").EnumerateArray().Select(d => d.GetProperty("id").GetString()));
        Assert.Equal(HttpStatusCode.OK, one.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, create.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, settings.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, command.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, delete.StatusCode);
        Assert.Equal(HttpStatusCode.OK, still.StatusCode);
    }

    [Fact]
    public async Task Write_key_changes_devices_of_its_domain()
    {
        var domain = await NewDomainAsync();
        var (_, key) = await NewKeyAsync(domain, "write");
        using var client = fixture.Host.WithToken(key);

        var create = await client.PostAsJsonAsync("/api/devices", new { ident = "w" + Guid.NewGuid().ToString("N")[..10] }, Ct);
        var created = await create.JsonAsync();
        var device = created.GetProperty("id").GetString();
        var settings = await client.PutAsJsonAsync($"/api/devices/{device}/settings", new { rate = "5" }, Ct);
        var command = await client.PostAsJsonAsync($"/api/devices/{device}/commands", new { text = "reboot" }, Ct);

        Assert.Equal(HttpStatusCode.Created, create.StatusCode);
        Assert.Equal(domain, created.GetProperty("domain").GetString());
        Assert.Equal(HttpStatusCode.Accepted, settings.StatusCode);
        Assert.Equal(HttpStatusCode.Created, command.StatusCode);
    }

    [Fact]
    public async Task Read_key_is_refused_on_every_route_that_changes_something()
    {
        var (_, key) = await NewKeyAsync(await NewDomainAsync(), "read");
        using var client = fixture.Host.WithToken(key);
        var failures = new List<string>();

        foreach (var (method, url, _) in AuthorizationTests.ApiEndpoints(fixture.Host.App.Services))
        {
            if (method is "GET" or "HEAD")
            {
                continue;
            }
            using var request = new HttpRequestMessage(new HttpMethod(method), url) { Content = RawJson("{}") };
            using var response = await client.SendAsync(request, Ct);
            if (response.StatusCode != HttpStatusCode.Forbidden)
            {
                failures.Add($"{method} {url} → {(int)response.StatusCode}");
            }
        }

        Assert.Empty(failures);
    }

    [Fact]
    public async Task Write_key_never_reaches_an_admin_route()
    {
        var (_, key) = await NewKeyAsync(await NewDomainAsync(), "write");
        using var client = fixture.Host.WithToken(key);
        var failures = new List<string>();
        var admin = 0;

        foreach (var (method, url, endpoint) in AuthorizationTests.ApiEndpoints(fixture.Host.App.Services))
        {
            if (!endpoint.Metadata.GetOrderedMetadata<Microsoft.AspNetCore.Authorization.IAuthorizeData>().Any(a => a.Policy == ApiExtensions.AdminPolicy))
            {
                continue;
            }
            admin++;
            using var request = new HttpRequestMessage(new HttpMethod(method), url);
            if (method is "POST" or "PUT" or "PATCH")
            {
                request.Content = RawJson("{}");
            }
            using var response = await client.SendAsync(request, Ct);
            if (response.StatusCode != HttpStatusCode.Forbidden)
            {
                failures.Add($"{method} {url} → {(int)response.StatusCode}");
            }
        }

        Assert.True(admin >= 20, $"only {admin} admin routes found");
        Assert.Empty(failures);
    }

    [Fact]
    public async Task Key_of_domain_a_never_sees_domain_b()
    {
        var a = await NewDomainAsync();
        var b = await NewDomainAsync();
        var deviceA = await NewDeviceAsync(a);
        var deviceB = await NewDeviceAsync(b);
        var identB = (await (await Admin.GetAsync($"/api/devices/{deviceB}", Ct)).JsonAsync()).GetProperty("ident").GetString();
        var (_, key) = await NewKeyAsync(a, "write");
        using var client = fixture.Host.WithToken(key);

        var list = await (await client.GetAsync("/api/devices?limit=1000", Ct)).JsonAsync();
        var filtered = await client.GetAsync($"/api/devices?domain={b}", Ct);
        var byId = await client.GetAsync($"/api/devices/{deviceB}", Ct);
        var byIdent = await client.GetAsync($"/api/devices/by-ident/{identB}", Ct);
        var data = await client.GetAsync($"/api/devices/{deviceB}/data", Ct);
        var settings = await client.PutAsJsonAsync($"/api/devices/{deviceB}/settings", new { rate = "5" }, Ct);
        var move = await client.PatchAsJsonAsync($"/api/devices/{deviceA}", new { domain = b }, Ct);
        var me = await (await client.GetAsync("/api/auth/me", Ct)).JsonAsync();

        Assert.Equal([deviceA], list.GetProperty("items").EnumerateArray().Select(d => d.GetProperty("id").GetString()));
        Assert.DoesNotContain(deviceB, (await filtered.Content.ReadAsStringAsync(Ct)), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, byId.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, byIdent.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, data.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, settings.StatusCode);
        Assert.NotEqual(HttpStatusCode.OK, move.StatusCode);
        Assert.Equal("apikey", me.GetProperty("role").GetString());
        Assert.Equal("write", me.GetProperty("scope").GetString());
    }

    [Fact]
    public async Task Revoked_key_is_refused_at_once()
    {
        var (id, key) = await NewKeyAsync(await NewDomainAsync(), "read");
        using var client = fixture.Host.WithToken(key);
        var before = await client.GetAsync("/api/devices", Ct);

        var revoke = await Admin.DeleteAsync($"/api/apikeys/{id}", Ct);
        var after = await client.GetAsync("/api/devices", Ct);
        var again = await Admin.DeleteAsync($"/api/apikeys/{id}", Ct);
        var listed = await Admin.GetStringAsync("/api/apikeys?limit=1000", Ct);

        Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, revoke.StatusCode);
        await after.AssertProblemAsync(401);
        Assert.Contains(after.Headers.WwwAuthenticate, h => h.Scheme == "Bearer" && h.Parameter == "error=\"invalid_token\"");
        Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);
        Assert.DoesNotContain(id, listed, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Expired_key_is_refused()
    {
        var (id, key) = await NewKeyAsync(await NewDomainAsync(), "read", DateTimeOffset.UtcNow.AddSeconds(5));
        using var client = fixture.Host.WithToken(key);
        var before = await client.GetAsync("/api/devices", Ct);

        // Wait (generously) for the expiry to pass rather than for a fixed time.
        var deadline = DateTimeOffset.UtcNow.AddSeconds(60);
        HttpResponseMessage after;
        do
        {
            await Task.Delay(250, Ct);
            after = await client.GetAsync("/api/devices", Ct);
        }
        while (after.StatusCode == HttpStatusCode.OK && DateTimeOffset.UtcNow < deadline);

        Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        await after.AssertProblemAsync(401);
        Assert.True((await (await Admin.GetAsync($"/api/apikeys/{id}", Ct)).JsonAsync()).GetProperty("expiresAt").GetDateTimeOffset() <= DateTimeOffset.UtcNow);
    }

    [Fact]
    public async Task Use_of_a_key_is_recorded()
    {
        var (id, key) = await NewKeyAsync(await NewDomainAsync(), "read");
        var unused = await (await Admin.GetAsync($"/api/apikeys/{id}", Ct)).JsonAsync();
        using var client = fixture.Host.WithToken(key);

        (await client.GetAsync("/api/devices", Ct)).EnsureSuccessStatusCode();
        var used = await (await Admin.GetAsync($"/api/apikeys/{id}", Ct)).JsonAsync();

        Assert.Equal(JsonValueKind.Null, unused.GetProperty("lastUsedAt").ValueKind);
        Assert.Equal(JsonValueKind.String, used.GetProperty("lastUsedAt").ValueKind);
    }

    [Fact]
    public async Task Key_secret_appears_nowhere_in_the_registry()
    {
        var (id, key) = await NewKeyAsync(await NewDomainAsync(), "write");
        using var client = fixture.Host.WithToken(key);
        (await client.GetAsync("/api/devices", Ct)).EnsureSuccessStatusCode();

        var everything = await fixture.Host.Get<IRegistry>().ExportJsonAsync(RegistryPath.Root, Ct);

        Assert.Contains(id, everything, StringComparison.Ordinal);
        Assert.DoesNotContain(key, everything, StringComparison.Ordinal);
        Assert.DoesNotContain(key[38..], everything, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Only_admins_manage_keys()
    {
        var (user, domain) = await fixture.Host.NewDomainUserAsync(Admin);

        var create = await user.PostAsJsonAsync("/api/apikeys", new { name = "mine", domain, scope = "write" }, Ct);
        var list = await user.GetAsync("/api/apikeys", Ct);

        Assert.Equal(HttpStatusCode.Forbidden, create.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, list.StatusCode);
    }

    [Theory]
    [InlineData("{\"name\":\"a\",\"domain\":\"default\",\"scope\":\"admin\"}", "scope")]
    [InlineData("{\"name\":\"\",\"domain\":\"default\",\"scope\":\"read\"}", "name")]
    [InlineData("{\"name\":\"a\",\"domain\":\"no-such-domain\",\"scope\":\"read\"}", "domain")]
    [InlineData("{\"name\":\"a\",\"domain\":\"Not A Name\",\"scope\":\"read\"}", "domain")]
    [InlineData("{\"name\":\"a\",\"domain\":\"default\",\"scope\":\"read\",\"expiresAt\":\"2001-01-01T00:00:00Z\"}", "expiresAt")]
    [InlineData("{\"name\":\"a\",\"domain\":\"default\"}", "scope")]
    public async Task Bad_key_requests_are_400_naming_the_field(string json, string field)
    {
        var response = await Admin.PostAsync("/api/apikeys", RawJson(json), Ct);

        await response.AssertProblemAsync(400, field);
    }

    [Theory]
    [InlineData("limit=0", "limit")]
    [InlineData("limit=1001", "limit")]
    [InlineData("cursor=bm90LWEtY3Vyc29y", "cursor")]
    public async Task Bad_list_queries_are_400_naming_the_field(string query, string field)
    {
        var response = await Admin.GetAsync("/api/apikeys?" + query, Ct);

        await response.AssertProblemAsync(400, field);
    }

    [Fact]
    public async Task Keys_are_listed_in_pages()
    {
        var domain = await NewDomainAsync();
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add((await NewKeyAsync(domain, "read")).Id);
        }

        var seen = new List<string>();
        string? cursor = null;
        do
        {
            var page = await (await Admin.GetAsync($"/api/apikeys?domain={domain}&limit=2" + (cursor is null ? "" : $"&cursor={cursor}"), Ct)).JsonAsync();
            seen.AddRange(page.GetProperty("items").EnumerateArray().Select(k => k.GetProperty("id").GetString()!));
            cursor = page.GetProperty("next").GetString();
        }
        while (cursor is not null);

        var whole = await (await Admin.GetAsync($"/api/apikeys?domain={domain}&limit=1000", Ct)).JsonAsync();

        // Oldest first (keys made in the same millisecond by id): the pages are the whole list, in order, once.
        Assert.Equal(whole.GetProperty("items").EnumerateArray().Select(k => k.GetProperty("id").GetString()!), seen);
        Assert.Equal(ids.Order(), seen.Order());
    }
}
