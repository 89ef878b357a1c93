using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using M2M.Messaging;
using static M2M.Api.Tests.Http;

namespace M2M.Api.Tests;

/// <summary>Live events over Server-Sent Events, filtered by domain.</summary>
[Collection(ApiCollection.Name)]
public class EventsTests(ApiFixture fixture)
{
    /// <summary>Reads SSE events from <paramref name="client"/> until <paramref name="stop"/> says so.</summary>
    private static async Task<List<(string Event, JsonElement Data)>> ReadEventsAsync(HttpClient client, Func<BusMessage, Task> afterReady, Func<List<(string Event, JsonElement Data)>, bool> stop)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cts.CancelAfter(TimeSpan.FromSeconds(20));
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/events");
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
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
                var data = JsonDocument.Parse(line[6..]).RootElement.Clone();
                if (name == "ready")
                {
                    await afterReady(new BusMessage("ready", "test"));
                }
                else
                {
                    events.Add((name ?? "message", data));
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
    public async Task User_receives_events_of_their_domain_devices_only()
    {
        var (userA, domainA) = await fixture.Host.NewDomainUserAsync(fixture.Admin);
        var (_, domainB) = await fixture.Host.NewDomainUserAsync(fixture.Admin);
        var mine = (await DevicesTests.CreateDeviceAsync(fixture.Admin, domain: domainA)).GetProperty("id").GetString()!;
        var theirs = (await DevicesTests.CreateDeviceAsync(fixture.Admin, domain: domainB)).GetProperty("id").GetString()!;
        var bus = fixture.Host.Get<IMessageBus>();

        var events = await ReadEventsAsync(userA, async _ =>
        {
            // What an ingest node publishes when devices connect: one of another domain first, then one of the user's.
            await bus.PublishAsync(Topics.Events, new BusMessage(Calls.DeviceIdentified, "ingest").With("device_id", theirs).With("connection_id", "n1:1"), Ct);
            await bus.PublishAsync(Topics.Events, new BusMessage(Calls.NewReceiver, "ingest").With("node", "n1"), Ct);
            await bus.PublishAsync(Topics.Events, new BusMessage(Calls.DeviceIdentified, "ingest").With("device_id", mine).With("connection_id", "n1:2"), Ct);
        }, e => e.Count >= 1);

        var (name, data) = Assert.Single(events);
        Assert.Equal(Calls.DeviceIdentified, name);
        Assert.Equal(mine, data.GetProperty("device_id").GetString());
        Assert.True(data.GetProperty("time").GetInt64() > 0);
    }

    [Fact]
    public async Task A_device_moved_to_another_domain_stops_streaming_to_its_former_domain()
    {
        var (userA, domainA) = await fixture.Host.NewDomainUserAsync(fixture.Admin);
        var (_, domainB) = await fixture.Host.NewDomainUserAsync(fixture.Admin);
        var moved = (await DevicesTests.CreateDeviceAsync(fixture.Admin, domain: domainA)).GetProperty("id").GetString()!;
        var stays = (await DevicesTests.CreateDeviceAsync(fixture.Admin, domain: domainA)).GetProperty("id").GetString()!;
        var bus = fixture.Host.Get<IMessageBus>();

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cts.CancelAfter(TimeSpan.FromSeconds(20));
        using var response = await userA.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/api/events"), HttpCompletionOption.ResponseHeadersRead, cts.Token);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cts.Token));
        var events = new List<(string Event, string Device)>();
        string? name = null;
        while (await reader.ReadLineAsync(cts.Token) is { } line)
        {
            if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                name = line[7..];
                continue;
            }
            if (!line.StartsWith("data: ", StringComparison.Ordinal) || name == "ping")
            {
                continue;
            }
            if (name == "ready")
            {
                await bus.PublishAsync(Topics.Events, new BusMessage(Calls.DeviceIdentified, "ingest").With("device_id", moved).With("connection_id", "n1:1"), Ct);
                continue;
            }
            var device = JsonDocument.Parse(line[6..]).RootElement.GetProperty("device_id").GetString()!;
            events.Add((name!, device));
            if (device == stays)
            {
                break;
            }
            // The stream has seen the device; now it belongs to domain B.
            (await fixture.Admin.PatchAsJsonAsync($"/api/devices/{moved}", new { domain = domainB }, Ct)).EnsureSuccessStatusCode();
            await bus.PublishAsync(Topics.Events, new BusMessage(Calls.DeviceDisconnected, "ingest").With("device_id", moved).With("connection_id", "n1:1"), Ct);
            await bus.PublishAsync(Topics.Events, new BusMessage(Calls.DeviceIdentified, "ingest").With("device_id", stays).With("connection_id", "n1:2"), Ct);
        }

        Assert.Equal(
            [(Calls.DeviceIdentified, moved), (Calls.DeviceIdentified, stays)],
            events);
    }

    [Fact]
    public async Task Admin_receives_every_event()
    {
        var bus = fixture.Host.Get<IMessageBus>();
        var device = Guid.NewGuid().ToString("D");

        var events = await ReadEventsAsync(fixture.Admin, async _ =>
        {
            await bus.PublishAsync(Topics.Events, new BusMessage(Calls.NewReceiver, "ingest").With("node", "n9"), Ct);
            await bus.PublishAsync(Topics.Events, new BusMessage(Calls.DeviceDisconnected, "ingest").With("device_id", device), Ct);
        }, e => e.Any(x => x.Event == Calls.DeviceDisconnected && x.Data.GetProperty("device_id").GetString() == device));

        Assert.Contains(events, e => e.Event == Calls.NewReceiver);
    }
}
