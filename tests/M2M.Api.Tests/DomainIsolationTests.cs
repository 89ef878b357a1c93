using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using static M2M.Api.Tests.Http;

namespace M2M.Api.Tests;

/// <summary>A user of domain A cannot see or change devices of domain B: 404 as if they did not exist.</summary>
[Collection(ApiCollection.Name)]
public class DomainIsolationTests(ApiFixture fixture)
{
    [Fact]
    public async Task User_gets_404_for_every_route_of_a_device_of_another_domain()
    {
        var (userA, _) = await fixture.Host.NewDomainUserAsync(fixture.Admin);
        var (_, domainB) = await fixture.Host.NewDomainUserAsync(fixture.Admin);
        var ident = DevicesTests.NewIdent();
        var id = (await DevicesTests.CreateDeviceAsync(fixture.Admin, ident, domainB)).GetProperty("id").GetString();

        var attempts = new (string Method, string Url, HttpContent? Body)[]
        {
            ("GET", $"/api/devices/{id}", null),
            ("GET", $"/api/devices/by-ident/{ident}", null),
            ("PATCH", $"/api/devices/{id}", JsonContent.Create(new { displayName = "mine" })),
            ("DELETE", $"/api/devices/{id}", null),
            ("POST", $"/api/devices/{id}/disconnect", null),
            ("GET", $"/api/devices/{id}/status", null),
            ("GET", $"/api/devices/{id}/settings", null),
            ("PUT", $"/api/devices/{id}/settings", JsonContent.Create(new Dictionary<string, string> { ["a"] = "1" })),
            ("GET", $"/api/devices/{id}/commands", null),
            ("POST", $"/api/devices/{id}/commands", JsonContent.Create(new { text = "reboot" })),
            ("GET", $"/api/devices/{id}/data", null),
            ("GET", $"/api/devices/{id}/data/latest", null),
        };
        foreach (var (method, url, body) in attempts)
        {
            using var request = new HttpRequestMessage(new HttpMethod(method), url) { Content = body };
            var response = await userA.SendAsync(request, Ct);
            Assert.True(response.StatusCode == HttpStatusCode.NotFound, $"{method} {url} → {(int)response.StatusCode}");
        }

        // Nothing was changed by the attempts.
        var device = await (await fixture.Admin.GetAsync($"/api/devices/{id}", Ct)).JsonAsync();
        var settings = await (await fixture.Admin.GetAsync($"/api/devices/{id}/settings", Ct)).JsonAsync();
        var commands = await (await fixture.Admin.GetAsync($"/api/devices/{id}/commands", Ct)).JsonAsync();
        Assert.Equal(JsonValueKind.Null, device.GetProperty("displayName").ValueKind);
        Assert.Empty(settings.EnumerateObject());
        Assert.Empty(commands.GetProperty("items").EnumerateArray());
    }

    [Fact]
    public async Task User_lists_only_devices_of_their_domain()
    {
        var (userA, domainA) = await fixture.Host.NewDomainUserAsync(fixture.Admin);
        var (_, domainB) = await fixture.Host.NewDomainUserAsync(fixture.Admin);
        var mine = (await DevicesTests.CreateDeviceAsync(userA)).GetProperty("id").GetString();
        var theirs = (await DevicesTests.CreateDeviceAsync(fixture.Admin, domain: domainB)).GetProperty("id").GetString();

        var all = await (await userA.GetAsync("/api/devices?limit=1000", Ct)).JsonAsync();
        var filtered = await userA.GetAsync($"/api/devices?domain={domainB}", Ct);
        var ids = all.GetProperty("items").EnumerateArray().Select(d => d.GetProperty("id").GetString()).ToList();

        Assert.Contains(mine, ids);
        Assert.DoesNotContain(theirs, ids);
        Assert.All(all.GetProperty("items").EnumerateArray(), d => Assert.Equal(domainA, d.GetProperty("domain").GetString()));
        await filtered.AssertProblemAsync(400, "domain");
    }

    [Fact]
    public async Task User_creates_devices_only_in_their_domain()
    {
        var (userA, domainA) = await fixture.Host.NewDomainUserAsync(fixture.Admin);
        var (_, domainB) = await fixture.Host.NewDomainUserAsync(fixture.Admin);

        var created = await DevicesTests.CreateDeviceAsync(userA);
        var elsewhere = await userA.PostAsJsonAsync("/api/devices", new { ident = DevicesTests.NewIdent(), domain = domainB }, Ct);
        var move = await userA.PatchAsJsonAsync($"/api/devices/{created.GetProperty("id").GetString()}", new { domain = domainB }, Ct);

        Assert.Equal(domainA, created.GetProperty("domain").GetString());
        await elsewhere.AssertProblemAsync(400, "domain");
        await move.AssertProblemAsync(400, "domain");
    }
}
