using System.Net;
using System.Text.Json;
using System.Threading.Channels;
using M2M.Api.Live;
using M2M.Storage.TimeSeries;
using Microsoft.Extensions.DependencyInjection;
using static M2M.Api.Tests.Http;

namespace M2M.Api.Tests;

/// <summary>Live records: <c>/api/events?records=true</c> and <c>/api/devices/{id}/events</c> stream records as they are committed.</summary>
[Collection(ApiCollection.Name)]
public class LiveRecordsTests(ApiFixture fixture)
{
    private HttpClient Admin => fixture.Admin;

    /// <summary>Opens a stream, runs <paramref name="afterReady"/> once it is live, and collects events until <paramref name="stop"/>.</summary>
    private static async Task<List<(string Event, JsonElement Data)>> StreamAsync(HttpClient client, string path, Func<Task> afterReady, Func<List<(string Event, JsonElement Data)>, bool> stop)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cts.CancelAfter(TimeSpan.FromSeconds(30));
        using var response = await client.SendAsync(new HttpRequestMessage(HttpMethod.Get, path), HttpCompletionOption.ResponseHeadersRead, cts.Token);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cts.Token));
        var events = new List<(string, JsonElement)>();
        string? name = null;
        while (await reader.ReadLineAsync(cts.Token) is { } line)
        {
            if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                name = line[7..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                if (name == "ready")
                {
                    await afterReady();
                }
                else if (name != "ping")
                {
                    events.Add((name!, JsonDocument.Parse(line[6..]).RootElement.Clone()));
                    if (stop(events))
                    {
                        break;
                    }
                }
            }
        }
        return events;
    }

    [Fact]
    public async Task Records_stream_as_they_are_stored_filtered_by_device_and_type()
    {
        var ident = DevicesTests.NewIdent();
        var other = DevicesTests.NewIdent();
        var created = await DevicesTests.CreateDeviceAsync(Admin, ident);
        var id = created.GetProperty("id").GetString()!;
        var sockets = new List<IDisposable>();
        try
        {
            var events = await StreamAsync(Admin, $"/api/events?records=true&events=none&device={id}&type=sen:temp", async () =>
            {
                sockets.Add(await FleetTests.ConnectAlipAsync(fixture.Host, other, "D T 99"));
                sockets.Add(await FleetTests.ConnectAlipAsync(fixture.Host, DevicesTests.Identification(created), "D L 1.5,2.5", "D T 21.5", "J 1700000000 sen:temp {\"c\":22}"));
            }, e => e.Count >= 2);

            Assert.All(events, e => Assert.Equal("record", e.Event));
            Assert.All(events, e => Assert.Equal(id, e.Data.GetProperty("device_id").GetString()));
            Assert.All(events, e => Assert.Equal("sen:temp", e.Data.GetProperty("type").GetString()));
            Assert.Equal("21.5", events[0].Data.GetProperty("data").GetString());
            Assert.Equal(22, events[1].Data.GetProperty("data").GetProperty("c").GetInt32());
            Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1700000000), events[1].Data.GetProperty("time").GetDateTimeOffset());
        }
        finally
        {
            sockets.ForEach(s => s.Dispose());
        }
    }

    [Fact]
    public async Task A_domain_user_receives_the_records_of_their_devices_only()
    {
        var (user, domainA) = await fixture.Host.NewDomainUserAsync(Admin);
        var (_, domainB) = await fixture.Host.NewDomainUserAsync(Admin);
        var mine = DevicesTests.NewIdent();
        var theirs = DevicesTests.NewIdent();
        var mineCreated = await DevicesTests.CreateDeviceAsync(Admin, mine, domain: domainA);
        var mineId = mineCreated.GetProperty("id").GetString()!;
        var theirsCreated = await DevicesTests.CreateDeviceAsync(Admin, theirs, domain: domainB);
        var sockets = new List<IDisposable>();
        try
        {
            var events = await StreamAsync(user, "/api/events?records=true", async () =>
            {
                sockets.Add(await FleetTests.ConnectAlipAsync(fixture.Host, DevicesTests.Identification(theirsCreated), "D T 1"));
                sockets.Add(await FleetTests.ConnectAlipAsync(fixture.Host, DevicesTests.Identification(mineCreated), "D T 2"));
            }, e => e.Any(x => x.Event == "record" && x.Data.GetProperty("type").GetString() == "sen:temp"));

            Assert.All(events, e => Assert.Equal(mineId, e.Data.GetProperty("device_id").GetString()));
            Assert.Contains(events, e => e.Event == "device_identified");
        }
        finally
        {
            sockets.ForEach(s => s.Dispose());
        }
    }

    [Fact]
    public async Task The_per_device_stream_carries_that_device_only_and_is_404_for_another_domain()
    {
        var (user, _) = await fixture.Host.NewDomainUserAsync(Admin);
        var ident = DevicesTests.NewIdent();
        var created = await DevicesTests.CreateDeviceAsync(Admin, ident);
        var id = created.GetProperty("id").GetString()!;
        IDisposable? socket = null;
        try
        {
            var events = await StreamAsync(Admin, $"/api/devices/{id}/events?records=true", async () =>
            {
                socket = await FleetTests.ConnectAlipAsync(fixture.Host, DevicesTests.Identification(created), "D V 12.1");
            }, e => e.Any(x => x.Event == "record" && x.Data.GetProperty("type").GetString() == "sen:volt"));

            Assert.All(events, e => Assert.Equal(id, e.Data.GetProperty("device_id").GetString()));
            Assert.Contains(events, e => e.Event == "device_identified");
        }
        finally
        {
            socket?.Dispose();
        }

        var foreign = await user.GetAsync($"/api/devices/{id}/events?records=true", HttpCompletionOption.ResponseHeadersRead, Ct);
        Assert.Equal(HttpStatusCode.NotFound, foreign.StatusCode);
    }

    [Theory]
    [InlineData("?device=nope", "device")]
    [InlineData("?events=some", "events")]
    [InlineData("?events=none", "events")]
    [InlineData("?records=true&type=", "type")]
    public async Task Bad_stream_filters_answer_400_naming_the_field(string query, string field)
    {
        var response = await Admin.GetAsync($"/api/events{query}", HttpCompletionOption.ResponseHeadersRead, Ct);
        await response.AssertProblemAsync(400, field);
    }

    [Fact]
    public async Task More_than_the_limit_of_devices_is_refused()
    {
        var query = string.Join("&", Enumerable.Range(0, Apis.EventsApi.MaxDevices + 1).Select(_ => "device=" + Guid.NewGuid()));
        var response = await Admin.GetAsync($"/api/events?{query}", HttpCompletionOption.ResponseHeadersRead, Ct);
        await response.AssertProblemAsync(400, "device");
    }

    [Fact]
    public void A_subscriber_that_does_not_read_is_dropped_and_nothing_grows()
    {
        using var hub = new LiveRecordHub();
        var slow = Channel.CreateBounded<LiveItem>(10);
        var fast = Channel.CreateUnbounded<LiveItem>();
        using var slowSubscription = hub.Subscribe(null, null, slow.Writer);
        using var fastSubscription = hub.Subscribe(new HashSet<string> { "dev-b" }, null, fast.Writer);
        var records = Enumerable.Range(0, 100).Select(i => new TimeSeriesRecord(i % 2 == 0 ? "dev-a" : "dev-b", "t", DateTimeOffset.UnixEpoch.AddSeconds(i), "1")).ToArray();

        hub.Stored(records);

        // The slow one is completed with an overflow once its 10 places are full, and unsubscribed.
        Assert.True(SpinWait.SpinUntil(() => hub.Dropped == 1 && fast.Reader.Count == 50, TimeSpan.FromSeconds(10)));
        var kept = 0;
        while (slow.Reader.TryRead(out _))
        {
            kept++;
        }
        Assert.Equal(10, kept);
        Assert.True(slow.Reader.Completion.IsFaulted);
        Assert.IsType<LiveStreamOverflowException>(slow.Reader.Completion.Exception!.InnerException);
        Assert.Equal(1, hub.Subscribers);
        Assert.Equal(50, fast.Reader.Count);
    }

    [Fact]
    public void A_flood_ends_the_subscription_instead_of_queueing_without_bound()
    {
        using var hub = new LiveRecordHub();
        var channel = Channel.CreateBounded<LiveItem>(1_000_000);
        using var subscription = hub.Subscribe(null, null, channel.Writer);
        var batch = Enumerable.Range(0, 50_000).Select(i => new TimeSeriesRecord("dev-a", "t", DateTimeOffset.UnixEpoch.AddTicks(i), "1")).ToArray();

        // Far more batches than the dispatch queue holds, handed over faster than they are dispatched.
        for (var i = 0; i < 4 * LiveRecordHub.QueuedBatches && hub.Subscribers > 0; i++)
        {
            hub.Stored(batch);
        }

        Assert.True(SpinWait.SpinUntil(() => hub.Subscribers == 0, TimeSpan.FromSeconds(30)));
        while (channel.Reader.TryRead(out _))
        {
        }
        Assert.True(channel.Reader.Completion.IsFaulted);
        // Once nobody listens the committing side does nothing at all.
        hub.Stored(batch);
        Assert.Equal(0, hub.Subscribers);
    }

    [Fact]
    public async Task The_hub_registered_as_itself_and_as_the_commit_listener_shuts_down_without_error()
    {
        var services = new ServiceCollection();
        services.AddLiveRecords();
        var provider = services.BuildServiceProvider();
        var hub = provider.GetRequiredService<LiveRecordHub>();
        Assert.Same(hub, provider.GetRequiredService<ICommittedRecordsListener>());

        // The container disposes the one hub once per registration that handed it out.
        await provider.DisposeAsync();
        hub.Dispose();
    }
}
