using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using M2M.Api.Apis;
using M2M.Api.Fleet;
using M2M.Api.Live;
using M2M.Ingest.Hosting;
using M2M.Messaging;
using M2M.Storage.Entities;
using M2M.Storage.TimeSeries;
using static M2M.Api.Tests.Http;

namespace M2M.Api.Tests;

/// <summary><c>/api/fleet</c> and <c>/api/fleet/positions</c>: the in-memory fleet index, its search, sort, paging and domain isolation.</summary>
[Collection(ApiCollection.Name)]
public class FleetTests(ApiFixture fixture)
{
    private HttpClient Admin => fixture.Admin;

    /// <summary>
    /// Connects an ALIP device, identifies it and sends <paramref name="lines"/>; returns once they are stored (the barrier).
    /// <paramref name="ident"/> is what follows <c>ID</c>: the ident alone, or the ident and the secret of a device created
    /// through the API (<see cref="DevicesTests.Identification"/>).
    /// </summary>
    internal static async Task<TcpClient> ConnectAlipAsync(ApiHost host, string ident, params string[] lines)
    {
        var endpoints = host.Get<IngestEndpoints>();
        await endpoints.Started.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, endpoints.Alip!.Port, Ct);
        var stream = client.GetStream();
        var reader = new StreamReader(stream, Encoding.ASCII, leaveOpen: true);
        var text = new StringBuilder($"ID {ident}\n");
        foreach (var line in lines)
        {
            text.Append(line).Append('\n');
        }
        text.Append("A done\n");
        await stream.WriteAsync(Encoding.ASCII.GetBytes(text.ToString()), Ct);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cts.CancelAfter(TimeSpan.FromSeconds(30));
        var seen = new List<string>();
        while (await reader.ReadLineAsync(cts.Token) is { } line)
        {
            if (line == "B done")
            {
                return client;
            }
            seen.Add(line);
        }
        client.Dispose();
        Assert.Fail($"{ident}: the connection closed before the barrier's answer; got: {string.Join(" | ", seen)}");
        return null!;
    }

    private static async Task<JsonElement> FleetAsync(HttpClient client, string query)
    {
        var response = await client.GetAsync($"/api/fleet{query}", Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.JsonAsync();
    }

    [Fact]
    public async Task Fleet_shows_a_connected_device_with_its_position_and_latest_values()
    {
        var ident = DevicesTests.NewIdent();
        using var device = await ConnectAlipAsync(fixture.Host, ident, "D L 48.85661,2.35222,42", "D T 21.5");

        var page = await FleetAsync(Admin, $"?q={ident}");

        var item = Assert.Single(page.GetProperty("items").EnumerateArray());
        Assert.Equal(1, page.GetProperty("total").GetInt32());
        Assert.Equal(ident, item.GetProperty("ident").GetString());
        Assert.True(item.GetProperty("connected").GetBoolean());
        Assert.Equal(48.85661, item.GetProperty("position").GetProperty("lat").GetDouble());
        Assert.Equal(2.35222, item.GetProperty("position").GetProperty("lon").GetDouble());
        Assert.Equal(42, item.GetProperty("position").GetProperty("spd").GetDouble());
        Assert.Equal("21.5", item.GetProperty("values").GetProperty("sen:temp").GetProperty("data").GetString());
        Assert.NotEqual(JsonValueKind.Null, item.GetProperty("lastSeen").ValueKind);

        var positions = await (await Admin.GetAsync($"/api/fleet/positions?q={ident}", Ct)).JsonAsync();
        var marker = Assert.Single(positions.GetProperty("items").EnumerateArray());
        Assert.Equal(48.85661, marker.GetProperty("lat").GetDouble());
        Assert.True(marker.GetProperty("connected").GetBoolean());
    }

    [Fact]
    public async Task A_device_learned_after_its_position_was_stored_shows_on_the_fleet_map()
    {
        // As on an API node of the distributed topology: another node registered the device and
        // stored its position (this node's live stream never saw the record), then announced it.
        var ident = DevicesTests.NewIdent();
        var device = await fixture.Host.Get<IDeviceStore>().CreateAsync(ident, cancellationToken: Ct);
        var store = Assert.IsType<LiveRecordsStore>(fixture.Host.Get<ITimeSeriesStore>()).Inner;
        var time = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        await store.SaveAsync(new TimeSeriesRecord(DeviceServices.SeriesId(device.Id), FleetApi.LocationType, time, "{\"lat\":45.5,\"lon\":-73.5}"), Ct);

        await fixture.Host.Get<IMessageBus>().PublishAsync(
            Topics.Events, new BusMessage(Calls.DeviceIdentified, "another-node").With("device_id", device.Id.ToString("D")).With("ident", ident), Ct);

        var positions = await PollAsync(
            async () => await (await Admin.GetAsync($"/api/fleet/positions?q={ident}", Ct)).JsonAsync(),
            p => p.GetProperty("items").GetArrayLength() > 0,
            "the device on the fleet map");
        var marker = Assert.Single(positions.GetProperty("items").EnumerateArray());
        Assert.Equal(device.Id.ToString("D"), marker.GetProperty("id").GetString());
        Assert.Equal(45.5, marker.GetProperty("lat").GetDouble());
        Assert.Equal(-73.5, marker.GetProperty("lon").GetDouble());
        Assert.Equal(time, marker.GetProperty("time").GetDateTimeOffset());
    }

    [Fact]
    public async Task A_position_stored_before_the_device_is_indexed_shows_on_the_fleet_map()
    {
        // The record reaches the index before anything announced the device (no identification event).
        var ident = DevicesTests.NewIdent();
        var device = await fixture.Host.Get<IDeviceStore>().CreateAsync(ident, cancellationToken: Ct);
        var time = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        await fixture.Host.Get<ITimeSeriesStore>().SaveAsync(
            new TimeSeriesRecord(DeviceServices.SeriesId(device.Id), FleetApi.LocationType, time, "{\"lat\":12.5,\"lon\":7.25}"), Ct);

        var positions = await PollAsync(
            async () => await (await Admin.GetAsync($"/api/fleet/positions?q={ident}", Ct)).JsonAsync(),
            p => p.GetProperty("items").GetArrayLength() > 0,
            "the device on the fleet map");
        var marker = Assert.Single(positions.GetProperty("items").EnumerateArray());
        Assert.Equal(12.5, marker.GetProperty("lat").GetDouble());
        Assert.Equal(time, marker.GetProperty("time").GetDateTimeOffset());
    }

    [Fact]
    public async Task Search_and_sort_page_through_every_match_once_in_order()
    {
        var tag = "f" + Guid.NewGuid().ToString("N")[..8];
        var names = Enumerable.Range(0, 23).Select(i => $"{tag} truck {(char)('a' + (i * 7 % 23))}").ToList();
        foreach (var name in names)
        {
            await DevicesTests.CreateDeviceAsync(Admin, displayName: name);
        }

        foreach (var order in new[] { "asc", "desc" })
        {
            var seen = new List<string>();
            string? cursor = null;
            do
            {
                var page = await FleetAsync(Admin, $"?q={tag}&sort=name&order={order}&limit=10{(cursor is null ? "" : "&cursor=" + cursor)}");
                Assert.Equal(23, page.GetProperty("total").GetInt32());
                seen.AddRange(page.GetProperty("items").EnumerateArray().Select(d => d.GetProperty("displayName").GetString()!));
                cursor = page.GetProperty("next").GetString();
            }
            while (cursor is not null);
            var expected = names.Order(StringComparer.OrdinalIgnoreCase).ToList();
            if (order == "desc")
            {
                expected.Reverse();
            }
            Assert.Equal(expected, seen);
        }

        // By ident, and searching by a part of the ident rather than of the name.
        var byIdent = await FleetAsync(Admin, $"?q={tag}&sort=ident&limit=500");
        var idents = byIdent.GetProperty("items").EnumerateArray().Select(d => d.GetProperty("ident").GetString()!).ToList();
        Assert.Equal(idents.Order(StringComparer.Ordinal), idents);
        var one = idents[5];
        var found = await FleetAsync(Admin, $"?q={one[^6..].ToUpperInvariant()}");
        Assert.Contains(found.GetProperty("items").EnumerateArray(), d => d.GetProperty("ident").GetString() == one);
    }

    [Fact]
    public async Task Sort_by_online_and_last_seen_puts_connected_devices_first()
    {
        var tag = "o" + Guid.NewGuid().ToString("N")[..8];
        var offline = await DevicesTests.CreateDeviceAsync(Admin, displayName: tag + " offline");
        var ident = DevicesTests.NewIdent();
        var created = await DevicesTests.CreateDeviceAsync(Admin, ident, displayName: tag + " online");
        using var device = await ConnectAlipAsync(fixture.Host, DevicesTests.Identification(created));

        foreach (var sort in new[] { "online", "lastSeen" })
        {
            var page = await FleetAsync(Admin, $"?q={tag}&sort={sort}&order=desc");
            var items = page.GetProperty("items").EnumerateArray().ToList();
            Assert.Equal(2, items.Count);
            Assert.Equal(ident, items[0].GetProperty("ident").GetString());
            Assert.Equal(offline.GetProperty("id").GetString(), items[1].GetProperty("id").GetString());
        }
    }

    [Fact]
    public async Task Paging_by_last_seen_and_by_online_visits_every_device_once_in_order()
    {
        var (_, domain) = await fixture.Host.NewDomainUserAsync(Admin);
        var index = fixture.Host.Get<FleetIndex>();
        var expected = new List<string>();
        for (var i = 0; i < 8; i++)
        {
            var id = (await DevicesTests.CreateDeviceAsync(Admin, domain: domain)).GetProperty("id").GetString()!;
            // Distinct last-seen times, not in creation (nor ident) order.
            index.Seen(Guid.Parse(id), DateTimeOffset.UtcNow.AddMinutes(-((i * 5) % 8) - 1));
            expected.Add(id);
        }
        var byTime = expected.OrderBy(id => (expected.IndexOf(id) * 5) % 8).Reverse().ToList(); // oldest first

        foreach (var (sort, order, wanted) in new[]
        {
            ("lastSeen", "asc", byTime),
            ("lastSeen", "desc", Enumerable.Reverse(byTime).ToList()),
        })
        {
            var seen = new List<string>();
            string? cursor = null;
            do
            {
                var page = await FleetAsync(Admin, $"?domain={domain}&sort={sort}&order={order}&limit=3{(cursor is null ? "" : "&cursor=" + cursor)}");
                Assert.Equal(8, page.GetProperty("total").GetInt32());
                seen.AddRange(page.GetProperty("items").EnumerateArray().Select(d => d.GetProperty("id").GetString()!));
                cursor = page.GetProperty("next").GetString();
            }
            while (cursor is not null);
            Assert.Equal(wanted, seen);
        }

        // All offline: by online is by ident, both ways.
        var idents = new List<string>();
        string? next = null;
        do
        {
            var page = await FleetAsync(Admin, $"?domain={domain}&sort=online&order=desc&limit=3{(next is null ? "" : "&cursor=" + next)}");
            idents.AddRange(page.GetProperty("items").EnumerateArray().Select(d => d.GetProperty("ident").GetString()!));
            next = page.GetProperty("next").GetString();
        }
        while (next is not null);
        Assert.Equal(8, idents.Count);
        Assert.Equal(idents.Order(StringComparer.Ordinal).Reverse(), idents);
    }

    [Fact]
    public async Task A_domain_user_sees_only_the_fleet_of_their_domain()
    {
        var (user, domainA) = await fixture.Host.NewDomainUserAsync(Admin);
        var (_, domainB) = await fixture.Host.NewDomainUserAsync(Admin);
        var tag = "d" + Guid.NewGuid().ToString("N")[..8];
        var mine = await DevicesTests.CreateDeviceAsync(Admin, domain: domainA, displayName: tag + " mine");
        await DevicesTests.CreateDeviceAsync(Admin, domain: domainB, displayName: tag + " theirs");

        var page = await FleetAsync(user, $"?q={tag}");
        var all = await FleetAsync(user, "?limit=500");
        var foreign = await user.GetAsync($"/api/fleet?domain={domainB}", Ct);

        Assert.Equal(mine.GetProperty("id").GetString(), Assert.Single(page.GetProperty("items").EnumerateArray()).GetProperty("id").GetString());
        Assert.Equal(1, page.GetProperty("total").GetInt32());
        Assert.All(all.GetProperty("items").EnumerateArray(), d => Assert.Equal(domainA, d.GetProperty("domain").GetString()));
        await foreign.AssertProblemAsync(400, "domain");
    }

    [Fact]
    public async Task A_stale_index_entry_never_shows_a_device_of_another_domain_and_is_fixed_from_the_store()
    {
        var (user, domainA) = await fixture.Host.NewDomainUserAsync(Admin);
        var (_, domainB) = await fixture.Host.NewDomainUserAsync(Admin);
        var tag = "s" + Guid.NewGuid().ToString("N")[..8];
        var created = await DevicesTests.CreateDeviceAsync(Admin, domain: domainB, displayName: tag);
        var id = Guid.Parse(created.GetProperty("id").GetString()!);
        var domains = fixture.Host.Get<IDomainStore>();
        var a = (await domains.GetByNameAsync(domainA, Ct))!;
        var index = fixture.Host.Get<FleetIndex>();
        var device = (await fixture.Host.Get<IDeviceStore>().GetAsync(id, Ct))!;
        // As if another process had moved the device and this node had not learned it yet: the index says domain A.
        index.Upsert(device with { DomainId = a.Id });

        var page = await FleetAsync(user, $"?q={tag}");
        var again = await FleetAsync(user, $"?q={tag}");

        Assert.Empty(page.GetProperty("items").EnumerateArray());
        // The served page re-read the device from the store and fixed the index.
        Assert.Equal(0, again.GetProperty("total").GetInt32());
    }

    [Fact]
    public async Task The_index_follows_renames_moves_and_deletions_made_through_the_api()
    {
        var tag = "r" + Guid.NewGuid().ToString("N")[..8];
        var created = await DevicesTests.CreateDeviceAsync(Admin, displayName: "before");
        var id = created.GetProperty("id").GetString();
        (await Admin.PatchAsJsonAsync($"/api/devices/{id}", new { displayName = tag }, Ct)).EnsureSuccessStatusCode();
        var renamed = await FleetAsync(Admin, $"?q={tag}");
        Assert.Equal(id, Assert.Single(renamed.GetProperty("items").EnumerateArray()).GetProperty("id").GetString());

        (await Admin.DeleteAsync($"/api/devices/{id}", Ct)).EnsureSuccessStatusCode();
        var deleted = await FleetAsync(Admin, $"?q={tag}");
        Assert.Equal(0, deleted.GetProperty("total").GetInt32());
    }

    [Theory]
    [InlineData("?sort=color", "sort")]
    [InlineData("?order=up", "order")]
    [InlineData("?limit=0", "limit")]
    [InlineData("?limit=501", "limit")]
    [InlineData("?cursor=bm9wZQ", "cursor")]
    public async Task Bad_fleet_queries_answer_400_naming_the_field(string query, string field)
    {
        var response = await Admin.GetAsync($"/api/fleet{query}", Ct);
        await response.AssertProblemAsync(400, field);
    }

    [Fact]
    public async Task A_cursor_of_one_sort_is_refused_by_another()
    {
        var tag = "c" + Guid.NewGuid().ToString("N")[..8];
        await DevicesTests.CreateDeviceAsync(Admin, displayName: tag + " 1");
        await DevicesTests.CreateDeviceAsync(Admin, displayName: tag + " 2");
        var page = await FleetAsync(Admin, $"?q={tag}&sort=name&limit=1");
        var cursor = page.GetProperty("next").GetString();

        var response = await Admin.GetAsync($"/api/fleet?q={tag}&sort=ident&cursor={cursor}", Ct);

        await response.AssertProblemAsync(400, "cursor");
    }
}
