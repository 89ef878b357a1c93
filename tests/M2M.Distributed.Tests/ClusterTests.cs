using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace M2M.Distributed.Tests;

/// <summary>One cluster for the functional tests (nothing in them stops a process).</summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    public Cluster Cluster { get; private set; } = null!;

    public async ValueTask InitializeAsync() => Cluster = await Cluster.StartAsync();

    public async ValueTask DisposeAsync()
    {
        if (Cluster is not null)
        {
            await Cluster.DisposeAsync();
        }
    }
}

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "cluster";
}

/// <summary>Two ingest nodes, an API node and a writer on one PostgreSQL and one NATS.</summary>
[Collection(ClusterCollection.Name)]
public class ClusterTests(ClusterFixture fixture)
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    private Cluster Cluster => fixture.Cluster;

    private static string NewIdent() => $"imei:{Random.Shared.NextInt64(10_000_000_000, 99_999_999_999)}";

    [Fact]
    public async Task A_device_on_node_A_receives_a_command_queued_through_the_api()
    {
        var ident = NewIdent();
        await using var device = await AlipTestDevice.ConnectAsync(Cluster.IngestA.AlipPort!.Value, ident, TestContext.Current.CancellationToken);
        var id = (string?)(await Cluster.DeviceAsync(ident))?["id"];

        var response = await Cluster.Http.PostAsJsonAsync($"/api/devices/{id}/commands", new { text = "reboot now" }, TestContext.Current.CancellationToken);
        response.EnsureSuccessStatusCode();

        var command = await device.WaitForAsync(l => l.StartsWith("C ", StringComparison.Ordinal), Wait);
        Assert.NotNull(command);
        Assert.EndsWith(" reboot now", command);
    }

    [Fact]
    public async Task Data_a_device_sends_to_node_B_is_served_by_the_api_node()
    {
        var ident = NewIdent();
        await using var device = await AlipTestDevice.ConnectAsync(Cluster.IngestB.AlipPort!.Value, ident, TestContext.Current.CancellationToken);
        var start = DateTimeOffset.UtcNow.AddHours(-1).ToUnixTimeSeconds();
        var times = Enumerable.Range(0, 200).Select(i => start + i).ToArray();

        await device.SendRecordsAsync(times);
        Assert.True(await device.BarrierAsync(1, Wait), "the barrier is answered");

        List<(DateTimeOffset Time, string Data)> stored = [];
        await Cluster.EventuallyAsync(async () => (stored = await Cluster.RecordsAsync(ident, "sen:temp")).Count == times.Length, "all 200 records served");
        Assert.Equal(times, stored.Select(r => r.Time.ToUnixTimeSeconds()));
        Assert.Equal($"\"{times[7] % 1000}\"", stored[7].Data);
        var view = await Cluster.DeviceAsync(ident);
        Assert.True((bool)view!["connected"]!);
    }

    [Fact]
    public async Task The_api_node_shows_the_last_seen_time_of_a_connected_device_moving_with_its_activity()
    {
        var ident = NewIdent();
        await using var device = await AlipTestDevice.ConnectAsync(Cluster.IngestA.AlipPort!.Value, ident, TestContext.Current.CancellationToken);
        DateTimeOffset? first = null;
        await Cluster.EventuallyAsync(async () => (first = (DateTimeOffset?)(await Cluster.DeviceAsync(ident))?["lastSeen"]) is not null, "shown connected with a last-seen time");

        // Activity after the claim (the cluster shares a last-seen time that moved by 1 s or more).
        await Task.Delay(TimeSpan.FromSeconds(1.5), TestContext.Current.CancellationToken);
        Assert.True(await device.BarrierAsync(1, Wait), "the device is active");

        await Cluster.EventuallyAsync(async () => (DateTimeOffset?)(await Cluster.DeviceAsync(ident))?["lastSeen"] > first!.Value.AddSeconds(1), "the last-seen time moved");
        Assert.True((bool)(await Cluster.DeviceAsync(ident))!["connected"]!);
    }

    [Fact]
    public async Task The_fleet_of_the_api_node_sorts_online_first_a_device_connected_to_an_ingest_node()
    {
        // Two devices of one search: the connected one sorts before the other, though its ident sorts after it.
        var prefix = $"imei:{Random.Shared.NextInt64(1_000_000_000, 9_999_999_999)}";
        var (connectedIdent, offlineIdent) = (prefix + "0", prefix + "1");
        using (var created = await Cluster.Http.PostAsJsonAsync("/api/devices", new { ident = offlineIdent }, TestContext.Current.CancellationToken))
        {
            Assert.True(created.IsSuccessStatusCode, $"created: {created.StatusCode}");
        }
        await using var device = await AlipTestDevice.ConnectAsync(Cluster.IngestB.AlipPort!.Value, connectedIdent, TestContext.Current.CancellationToken);
        Assert.True(await device.BarrierAsync(1, Wait), "the device is identified");

        // The online sort reads the presence from memory, not this node's (empty) connection registry.
        await Cluster.EventuallyAsync(async () =>
        {
            var page = await Cluster.Http.GetFromJsonAsync<JsonObject>($"/api/fleet?q={Uri.EscapeDataString(prefix)}&sort=online&order=desc", TestContext.Current.CancellationToken);
            var items = page?["items"]?.AsArray();
            return items is { Count: 2 } && (string?)items[0]!["ident"] == connectedIdent && (bool)items[0]!["connected"]! && !(bool)items[1]!["connected"]!;
        }, "the connected device listed first");
    }

    [Fact]
    public async Task A_device_moving_from_node_A_to_node_B_leaves_one_live_session()
    {
        var ident = NewIdent();
        await using var first = await AlipTestDevice.ConnectAsync(Cluster.IngestA.AlipPort!.Value, ident, TestContext.Current.CancellationToken);
        await Cluster.EventuallyAsync(async () => (bool?)(await Cluster.DeviceAsync(ident))?["connected"] == true, "connected on A");

        await using var second = await AlipTestDevice.ConnectAsync(Cluster.IngestB.AlipPort!.Value, ident, TestContext.Current.CancellationToken);

        Assert.True(await first.ClosedByServerAsync(Wait), "node A closes the old connection");
        Assert.Contains(first.OtherLines, l => l.StartsWith("QUIT", StringComparison.Ordinal));
        Assert.True(await second.BarrierAsync(1, Wait), "the new session on B is alive");
        var view = await Cluster.DeviceAsync(ident);
        Assert.True((bool)view!["connected"]!);
    }

    [Fact]
    public async Task Records_committed_by_the_writer_reach_the_api_node_live_stream_and_fleet_map()
    {
        var ident = NewIdent();
        await using var device = await AlipTestDevice.ConnectAsync(Cluster.IngestA.AlipPort!.Value, ident, TestContext.Current.CancellationToken);
        Assert.True(await device.BarrierAsync(1, Wait), "identified");
        var id = (string)(await Cluster.DeviceAsync(ident))!["id"]!;
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/events?records=true&events=none&device={id}");
        using var response = await Cluster.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, TestContext.Current.CancellationToken);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(TestContext.Current.CancellationToken));
        Assert.Equal("event: ready", await reader.ReadLineAsync(TestContext.Current.CancellationToken));

        await device.SendAsync("D L 48.85661,2.35222,42,35");
        Assert.True(await device.BarrierAsync(2, Wait), "the position is stored");

        // Committed by the writer process, heard by the API node from the bus.
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(Wait);
        JsonObject? record = null;
        while (record is null && await reader.ReadLineAsync(timeout.Token) is { } line)
        {
            if (line.StartsWith("data: ", StringComparison.Ordinal) && JsonNode.Parse(line[6..]) is JsonObject data && (string?)data["type"] == "sen:loc")
            {
                record = data;
            }
        }
        Assert.NotNull(record);
        Assert.Equal(id, (string?)record["device_id"]);
        await Cluster.EventuallyAsync(async () =>
        {
            var page = await Cluster.Http.GetFromJsonAsync<JsonObject>($"/api/fleet/positions?q={Uri.EscapeDataString(ident)}", TestContext.Current.CancellationToken);
            return page?["items"]?.AsArray().FirstOrDefault() is JsonObject marker && (double)marker["lat"]! == 48.85661 && (bool)marker["connected"]!;
        }, "the device on the fleet map, online");
    }

    [Fact]
    public async Task Events_of_both_ingest_nodes_reach_the_api_node_stream()
    {
        var (identA, identB) = (NewIdent(), NewIdent());
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/events");
        using var response = await Cluster.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, TestContext.Current.CancellationToken);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(TestContext.Current.CancellationToken));
        Assert.Equal("event: ready", await reader.ReadLineAsync(TestContext.Current.CancellationToken));

        await using var a = await AlipTestDevice.ConnectAsync(Cluster.IngestA.AlipPort!.Value, identA, TestContext.Current.CancellationToken);
        await using var b = await AlipTestDevice.ConnectAsync(Cluster.IngestB.AlipPort!.Value, identB, TestContext.Current.CancellationToken);

        var seen = new HashSet<string>();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(Wait);
        while (!(seen.Contains(identA) && seen.Contains(identB)) && await reader.ReadLineAsync(timeout.Token) is { } line)
        {
            if (line.StartsWith("data: ", StringComparison.Ordinal) && JsonNode.Parse(line[6..]) is JsonObject data
                && (string?)data["ident"] is { } ident)
            {
                seen.Add(ident);
            }
        }
        Assert.Contains(identA, seen);
        Assert.Contains(identB, seen);
    }
}
