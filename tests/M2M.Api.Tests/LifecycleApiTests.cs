using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using M2M.Storage.Entities;
using M2M.Storage.Registry;
using M2M.Storage.TimeSeries;
using static M2M.Api.Tests.Http;

namespace M2M.Api.Tests;

/// <summary>Deleting records and devices through the API, on the shared server.</summary>
[Collection(ApiCollection.Name)]
public class DataDeletionTests(ApiFixture fixture)
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private HttpClient Admin => fixture.Admin;

    private ITimeSeriesStore Series => fixture.Host.Get<ITimeSeriesStore>();

    private async Task<Guid> DeviceAsync(HttpClient client, string? domain = null)
        => Guid.Parse((await DevicesTests.CreateDeviceAsync(client, domain: domain)).GetProperty("id").GetString()!);

    /// <summary>One "sen:temp" record a day from <see cref="T0"/> for <paramref name="days"/> days, and one "sen:loc" on the first day.</summary>
    private async Task<List<TimeSeriesRecord>> RecordsAsync(Guid device, int days)
    {
        var records = Enumerable.Range(0, days).Select(i => new TimeSeriesRecord($"dev-{device:D}", "sen:temp", T0.AddDays(i), $"{{\"v\":{i}}}")).ToList();
        records.Add(new TimeSeriesRecord($"dev-{device:D}", "sen:loc", T0, "{\"lat\":1,\"lon\":2}"));
        await Series.SaveManyAsync(records, Ct);
        return records;
    }

    private async Task<List<TimeSeriesRecord>> StoredAsync(Guid device)
        => [.. (await Series.QueryAsync(new TimeSeriesQuery($"dev-{device:D}", Descending: false, Limit: 10_000), Ct)).Items];

    private static string Q(DateTimeOffset time) => Uri.EscapeDataString(time.ToString("O"));

    [Fact]
    public async Task Deleting_records_in_a_range_removes_them_across_months_and_the_latest_values_follow()
    {
        var device = await DeviceAsync(Admin);
        var records = await RecordsAsync(device, 60); // 1 March to 29 April

        // The last 40 days of sen:temp, across the month boundary: its latest value falls back to day 19.
        var response = await Admin.DeleteAsync($"/api/devices/{device}/data?type=sen:temp&from={Q(T0.AddDays(20))}&to={Q(T0.AddDays(70))}", Ct);

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        var stored = await StoredAsync(device);
        Assert.Equal(records.Where(r => r.Type != "sen:temp" || r.Time < T0.AddDays(20)).OrderBy(r => r.Time).ThenBy(r => r.Type, StringComparer.Ordinal), stored);
        var latest = await (await Admin.GetAsync($"/api/devices/{device}/data/latest", Ct)).JsonAsync();
        Assert.Equal(T0.AddDays(19), latest.GetProperty("sen:temp").GetProperty("time").GetDateTimeOffset());
        Assert.Equal(T0, latest.GetProperty("sen:loc").GetProperty("time").GetDateTimeOffset());

        // Without a type, every type of the range goes.
        Assert.Equal(HttpStatusCode.NoContent, (await Admin.DeleteAsync($"/api/devices/{device}/data?from={Q(T0)}&to={Q(T0.AddDays(5))}", Ct)).StatusCode);
        Assert.DoesNotContain(await StoredAsync(device), r => r.Time <= T0.AddDays(5));
        Assert.False((await (await Admin.GetAsync($"/api/devices/{device}/data/latest", Ct)).JsonAsync()).TryGetProperty("sen:loc", out _));
    }

    [Fact]
    public async Task Deleting_records_needs_a_whole_range_and_stays_within_the_callers_domain()
    {
        var (user, domain) = await fixture.Host.NewDomainUserAsync(Admin);
        var own = await DeviceAsync(user);
        var foreign = await DeviceAsync(Admin);
        await RecordsAsync(own, 3);
        var foreignRecords = await RecordsAsync(foreign, 3);
        var range = $"from={Q(T0)}&to={Q(T0.AddDays(10))}";

        await (await user.DeleteAsync($"/api/devices/{own}/data?to={Q(T0)}", Ct)).AssertProblemAsync(400, "from");
        await (await user.DeleteAsync($"/api/devices/{own}/data?from={Q(T0)}", Ct)).AssertProblemAsync(400, "to");
        await (await user.DeleteAsync($"/api/devices/{own}/data?from={Q(T0.AddDays(1))}&to={Q(T0)}", Ct)).AssertProblemAsync(400, "to");
        await (await user.DeleteAsync($"/api/devices/{own}/data?from=yesterday&to={Q(T0)}", Ct)).AssertProblemAsync(400, "from");
        await (await user.DeleteAsync($"/api/devices/{foreign}/data?{range}", Ct)).AssertProblemAsync(404);
        await (await fixture.Host.Anonymous.DeleteAsync($"/api/devices/{own}/data?{range}", Ct)).AssertProblemAsync(401);

        Assert.Equal(HttpStatusCode.NoContent, (await user.DeleteAsync($"/api/devices/{own}/data?{range}", Ct)).StatusCode);
        Assert.Empty(await StoredAsync(own));
        Assert.Equal(foreignRecords.Count, (await StoredAsync(foreign)).Count);

        // An API key of the domain: a read key may not delete, a write key may.
        var readKey = await ApiKeyAsync(domain, "read");
        var writeKey = await ApiKeyAsync(domain, "write");
        await RecordsAsync(own, 2);
        await (await readKey.DeleteAsync($"/api/devices/{own}/data?{range}", Ct)).AssertProblemAsync(403);
        Assert.NotEmpty(await StoredAsync(own));
        Assert.Equal(HttpStatusCode.NoContent, (await writeKey.DeleteAsync($"/api/devices/{own}/data?{range}", Ct)).StatusCode);
        Assert.Empty(await StoredAsync(own));
    }

    private async Task<HttpClient> ApiKeyAsync(string domain, string scope)
    {
        var created = await (await Admin.PostAsJsonAsync("/api/apikeys", new { name = $"lifecycle {scope}", domain, scope }, Ct)).JsonAsync();
        return fixture.Host.WithToken(created.GetProperty("key").GetString()!);
    }

    [Fact]
    public async Task Deleting_a_device_removes_it_for_real_and_keeps_its_records_unless_asked()
    {
        var ident = DevicesTests.NewIdent();
        var device = Guid.Parse((await DevicesTests.CreateDeviceAsync(Admin, ident)).GetProperty("id").GetString()!);
        var records = await RecordsAsync(device, 3);
        var registry = fixture.Host.Get<IRegistry>();

        var deleted = await Admin.DeleteAsync($"/api/devices/{device}", Ct);

        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await Admin.GetAsync($"/api/devices/{device}", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await Admin.GetAsync($"/api/devices/by-ident/{Uri.EscapeDataString(ident)}", Ct)).StatusCode);
        Assert.Equal(RegistryNodeStatus.Undefined, await registry.GetStatusAsync(EntityPaths.Device(device), Ct));
        Assert.Equal(RegistryNodeStatus.Undefined, await registry.GetStatusAsync(EntityPaths.DeviceByIdent(ident), Ct));
        Assert.Equal(records.Count, (await StoredAsync(device)).Count);
        var status = await (await Admin.GetAsync($"/api/devices/deletions/{device}", Ct)).JsonAsync();
        Assert.Equal(("done", false, ident, "default"), (status.GetProperty("state").GetString(), status.GetProperty("purgeData").GetBoolean(),
            status.GetProperty("ident").GetString(), status.GetProperty("domain").GetString()));
        await (await Admin.DeleteAsync($"/api/devices/{device}", Ct)).AssertProblemAsync(404);

        // The ident can be registered again; the kept records do not become the new device's.
        var again = Guid.Parse((await DevicesTests.CreateDeviceAsync(Admin, ident)).GetProperty("id").GetString()!);
        Assert.NotEqual(device, again);
        Assert.Equal(0, (await (await Admin.GetAsync($"/api/devices/{again}/data", Ct)).JsonAsync()).GetProperty("items").GetArrayLength());

        // Later, the kept records can be purged too.
        var purge = await Admin.DeleteAsync($"/api/devices/{device}?purgeData=true", Ct);
        Assert.Equal(HttpStatusCode.Accepted, purge.StatusCode);
        await WaitDoneAsync(Admin, device);
        Assert.Empty(await StoredAsync(device));
    }

    [Fact]
    public async Task Deleting_a_device_with_purge_data_deletes_its_records_in_the_background_with_a_status()
    {
        var (user, _) = await fixture.Host.NewDomainUserAsync(Admin);
        var (stranger, _) = await fixture.Host.NewDomainUserAsync(Admin);
        var device = await DeviceAsync(user);
        var records = await RecordsAsync(device, 40);

        await (await stranger.DeleteAsync($"/api/devices/{device}?purgeData=true", Ct)).AssertProblemAsync(404);
        var response = await user.DeleteAsync($"/api/devices/{device}?purgeData=true", Ct);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal($"/api/devices/deletions/{device:D}", response.Headers.Location?.OriginalString);
        var accepted = await response.JsonAsync();
        Assert.True(accepted.GetProperty("purgeData").GetBoolean());
        Assert.Contains(accepted.GetProperty("state").GetString(), new[] { "data", "done" });
        var done = await WaitDoneAsync(user, device);
        Assert.Equal(records.Count, done.GetProperty("recordsDeleted").GetInt64());
        Assert.Empty(await StoredAsync(device));
        Assert.Empty(await Series.GetLatestAsync($"dev-{device:D}", Ct));
        await (await stranger.GetAsync($"/api/devices/deletions/{device}", Ct)).AssertProblemAsync(404);
        await (await user.GetAsync($"/api/devices/deletions/{Guid.NewGuid()}", Ct)).AssertProblemAsync(404);
        await (await user.GetAsync("/api/devices/deletions/not-an-id", Ct)).AssertProblemAsync(400, "id");
    }

    private static async Task<JsonElement> WaitDoneAsync(HttpClient client, Guid device)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var status = await (await client.GetAsync($"/api/devices/deletions/{device}", Ct)).JsonAsync();
            if (status.GetProperty("state").GetString() == "done")
            {
                return status;
            }
            Assert.True(DateTime.UtcNow < deadline, $"deletion not done: {status}");
            await Task.Delay(50, Ct);
        }
    }
}

/// <summary>The retention and cleanup routes, each on a server of its own (configured retention, no scheduled runs).</summary>
public class MaintenanceApiTests
{
    private static readonly string[] Manual =
    [
        "--M2M:Storage:Retention:Enabled", "false",
        "--M2M:Storage:Cleanup:Enabled", "false",
    ];

    private static DateTimeOffset MonthsAgo(int months) => DateTimeOffset.UtcNow.AddMonths(-months);

    [Fact]
    public async Task An_admin_runs_retention_and_sees_its_last_run_while_old_months_go_and_latest_values_stay()
    {
        await using var host = await ApiHost.StartAsync([.. Manual, "--M2M:Storage:Retention:Months", "3"]);
        using var admin = await host.LoginAsync();
        var device = Guid.Parse((await DevicesTests.CreateDeviceAsync(admin)).GetProperty("id").GetString()!);
        var series = host.Get<ITimeSeriesStore>();
        var old = new TimeSeriesRecord($"dev-{device:D}", "sen:fw", MonthsAgo(8), "\"1.0\"");
        var recent = new TimeSeriesRecord($"dev-{device:D}", "sen:temp", DateTimeOffset.UtcNow.AddDays(-1), "{\"v\":1}");
        await series.SaveManyAsync([old, recent, recent with { Type = "sen:fw", Time = MonthsAgo(6), Data = "\"0.9\"" }], Ct);

        var before = await (await admin.GetAsync("/api/admin/retention", Ct)).JsonAsync();
        var run = await admin.PostAsync("/api/admin/retention/run", null, Ct);
        var report = await run.JsonAsync();
        var after = await (await admin.GetAsync("/api/admin/retention", Ct)).JsonAsync();

        Assert.Equal((3, false, JsonValueKind.Null), (before.GetProperty("months").GetInt32(), before.GetProperty("enabled").GetBoolean(), before.GetProperty("lastRun").ValueKind));
        Assert.Equal(HttpStatusCode.OK, run.StatusCode);
        var dropped = report.GetProperty("monthsDropped").EnumerateArray().Select(m => m.GetString()).ToList();
        Assert.Contains(old.Time.ToString("yyyy-MM", System.Globalization.CultureInfo.InvariantCulture), dropped);
        Assert.Contains(MonthsAgo(6).ToString("yyyy-MM", System.Globalization.CultureInfo.InvariantCulture), dropped);
        Assert.True(report.GetProperty("complete").GetBoolean());
        Assert.Equal("api", after.GetProperty("lastRun").GetProperty("trigger").GetString());
        var month = (int n) => MonthsAgo(n).ToString("yyyy-MM", System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal([month(8), month(6), DateTimeOffset.UtcNow.AddDays(-1).ToString("yyyy-MM", System.Globalization.CultureInfo.InvariantCulture)],
            before.GetProperty("storedMonths").EnumerateArray().Select(m => m.GetString()));
        Assert.DoesNotContain(month(8), after.GetProperty("storedMonths").EnumerateArray().Select(m => m.GetString()));
        Assert.Equal(dropped.Count, after.GetProperty("lastRun").GetProperty("monthsDropped").GetArrayLength());
        var data = await (await admin.GetAsync($"/api/devices/{device}/data", Ct)).JsonAsync();
        Assert.Equal(["sen:temp"], data.GetProperty("items").EnumerateArray().Select(r => r.GetProperty("type").GetString()));
        var latest = await (await admin.GetAsync($"/api/devices/{device}/data/latest", Ct)).JsonAsync();
        Assert.Equal("0.9", latest.GetProperty("sen:fw").GetProperty("data").GetString());
    }

    [Fact]
    public async Task A_domain_retention_is_set_by_an_admin_and_cuts_only_that_domains_devices()
    {
        await using var host = await ApiHost.StartAsync(Manual);
        using var admin = await host.LoginAsync();
        var (user, domain) = await host.NewDomainUserAsync(admin);
        var domainId = (await (await admin.GetAsync("/api/domains?limit=1000", Ct)).JsonAsync()).GetProperty("items").EnumerateArray()
            .Single(d => d.GetProperty("name").GetString() == domain).GetProperty("id").GetString();
        var short1 = Guid.Parse((await DevicesTests.CreateDeviceAsync(user)).GetProperty("id").GetString()!);
        var other = Guid.Parse((await DevicesTests.CreateDeviceAsync(admin)).GetProperty("id").GetString()!);
        var series = host.Get<ITimeSeriesStore>();
        foreach (var device in new[] { short1, other })
        {
            await series.SaveManyAsync([
                new($"dev-{device:D}", "sen:temp", MonthsAgo(5), "{\"v\":5}"),
                new($"dev-{device:D}", "sen:temp", DateTimeOffset.UtcNow.AddDays(-1), "{\"v\":0}"),
                new($"dev-{device:D}", "sen:fw", MonthsAgo(5), "\"1.0\""),
            ], Ct);
        }

        await (await user.PutAsJsonAsync($"/api/domains/{domainId}/retention", new { months = 2 }, Ct)).AssertProblemAsync(403);
        await (await admin.PutAsJsonAsync($"/api/domains/{domainId}/retention", new { months = 0 }, Ct)).AssertProblemAsync(400, "months");
        await (await admin.PutAsync($"/api/domains/{domainId}/retention", RawJson("{}"), Ct)).AssertProblemAsync(400);
        await (await admin.PutAsJsonAsync($"/api/domains/{Guid.NewGuid()}/retention", new { months = 2 }, Ct)).AssertProblemAsync(404);
        var set = await (await admin.PutAsJsonAsync($"/api/domains/{domainId}/retention", new { months = 2 }, Ct)).JsonAsync();
        Assert.Equal(2, set.GetProperty("retentionMonths").GetInt32());
        Assert.Equal(2, (await (await admin.GetAsync($"/api/domains/{domainId}", Ct)).JsonAsync()).GetProperty("retentionMonths").GetInt32());

        var report = await (await admin.PostAsync("/api/admin/retention/run", null, Ct)).JsonAsync();

        var domainReport = Assert.Single(report.GetProperty("domains").EnumerateArray());
        Assert.Equal((domain, 2), (domainReport.GetProperty("name").GetString(), domainReport.GetProperty("months").GetInt32()));
        Assert.Equal(2, report.GetProperty("recordsExpired").GetInt64());
        Assert.Single((await series.QueryAsync(new TimeSeriesQuery($"dev-{short1:D}"), Ct)).Items);
        Assert.Equal(3, (await series.QueryAsync(new TimeSeriesQuery($"dev-{other:D}"), Ct)).Items.Count);
        Assert.Equal(2, (await series.GetLatestAsync($"dev-{short1:D}", Ct)).Count); // latest values stay

        var cleared = await (await admin.PutAsJsonAsync($"/api/domains/{domainId}/retention", new { months = (int?)null }, Ct)).JsonAsync();
        Assert.Equal(JsonValueKind.Null, cleared.GetProperty("retentionMonths").ValueKind);
    }

    [Fact]
    public async Task Maintenance_routes_are_for_administrators_only()
    {
        await using var host = await ApiHost.StartAsync(Manual);
        using var admin = await host.LoginAsync();
        var (user, domain) = await host.NewDomainUserAsync(admin);
        var key = await (await admin.PostAsJsonAsync("/api/apikeys", new { name = "k", domain, scope = "write" }, Ct)).JsonAsync();
        using var keyClient = host.WithToken(key.GetProperty("key").GetString()!);

        foreach (var client in new[] { user, keyClient })
        {
            await (await client.GetAsync("/api/admin/retention", Ct)).AssertProblemAsync(403);
            await (await client.PostAsync("/api/admin/retention/run", null, Ct)).AssertProblemAsync(403);
            await (await client.GetAsync("/api/admin/cleanup", Ct)).AssertProblemAsync(403);
            await (await client.PostAsync("/api/admin/cleanup/run", null, Ct)).AssertProblemAsync(403);
        }
        await (await host.Anonymous.PostAsync("/api/admin/retention/run", null, Ct)).AssertProblemAsync(401);
    }

    [Fact]
    public async Task An_admin_runs_the_cleanup_which_removes_soft_deleted_nodes_past_the_grace_period()
    {
        await using var host = await ApiHost.StartAsync([.. Manual, "--M2M:Storage:Cleanup:GracePeriod", "00:00:00"]);
        using var admin = await host.LoginAsync();
        var created = await (await admin.PostAsJsonAsync("/api/users", new { name = "gone" + Guid.NewGuid().ToString("N")[..8], password = "password-gone", domain = "default" }, Ct)).JsonAsync();
        var userId = Guid.Parse(created.GetProperty("id").GetString()!);
        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync($"/api/users/{userId}", Ct)).StatusCode);
        var registry = host.Get<IRegistry>();
        Assert.Equal(RegistryNodeStatus.Deleted, await registry.GetStatusAsync(EntityPaths.User(userId), Ct));

        var status = await (await admin.GetAsync("/api/admin/cleanup", Ct)).JsonAsync();
        var report = await (await admin.PostAsync("/api/admin/cleanup/run", null, Ct)).JsonAsync();

        Assert.Equal(0, status.GetProperty("gracePeriodSeconds").GetDouble());
        Assert.True(report.GetProperty("nodesRemoved").GetInt32() >= 1);
        Assert.Equal(RegistryNodeStatus.Undefined, await registry.GetStatusAsync(EntityPaths.User(userId), Ct));
        Assert.Equal("api", (await (await admin.GetAsync("/api/admin/cleanup", Ct)).JsonAsync()).GetProperty("lastRun").GetProperty("trigger").GetString());
    }
}
