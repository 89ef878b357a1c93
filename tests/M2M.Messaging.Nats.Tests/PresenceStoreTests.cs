using M2M.Messaging.Presence;

namespace M2M.Messaging.Nats.Tests;

/// <summary>Device presence in the JetStream key-value bucket, shared by every node.</summary>
public class PresenceStoreTests
{
    private static DevicePresence At(Guid device, string node, string connection, int seconds = 0) =>
        new(device, node, connection, DateTimeOffset.FromUnixTimeSeconds(1_800_000_000), DateTimeOffset.FromUnixTimeSeconds(1_800_000_000 + seconds));

    [Fact]
    public async Task A_claim_is_seen_by_every_node_and_names_the_connection_it_replaced()
    {
        var prefix = NatsNode.NewPrefix();
        await using var nodeA = await NatsNode.StartBusAsync(NatsNode.Url, prefix);
        await using var nodeB = await NatsNode.StartBusAsync(NatsNode.Url, prefix);
        await using var api = await NatsNode.StartBusAsync(NatsNode.Url, prefix);
        var storeA = nodeA.Services.GetRequiredService<IPresenceStore>();
        var storeB = nodeB.Services.GetRequiredService<IPresenceStore>();
        var presence = api.Services.GetRequiredService<IDevicePresence>();
        var device = Guid.NewGuid();
        var ct = TestContext.Current.CancellationToken;

        Assert.Null(await presence.GetAsync(device, ct));
        Assert.Null(await storeA.ClaimAsync(At(device, "a", "a:1"), ct));
        Assert.Equal("a:1", (await presence.GetAsync(device, ct))?.ConnectionId);

        var replaced = await storeB.ClaimAsync(At(device, "b", "b:7"), ct);

        Assert.Equal(At(device, "a", "a:1"), replaced);
        Assert.Equal(At(device, "b", "b:7"), await presence.GetAsync(device, ct));
    }

    [Fact]
    public async Task A_node_neither_refreshes_nor_releases_a_device_another_node_claimed()
    {
        var prefix = NatsNode.NewPrefix();
        await using var nodeA = await NatsNode.StartBusAsync(NatsNode.Url, prefix);
        await using var nodeB = await NatsNode.StartBusAsync(NatsNode.Url, prefix);
        var storeA = nodeA.Services.GetRequiredService<IPresenceStore>();
        var storeB = nodeB.Services.GetRequiredService<IPresenceStore>();
        var device = Guid.NewGuid();
        var ct = TestContext.Current.CancellationToken;
        await storeA.ClaimAsync(At(device, "a", "a:1"), ct);
        await storeB.ClaimAsync(At(device, "b", "b:1"), ct);

        await storeA.RefreshAsync(At(device, "a", "a:1", seconds: 60), ct);
        await storeA.ReleaseAsync(device, "a", ct);
        Assert.Equal(At(device, "b", "b:1"), await storeB.GetAsync(device, ct));

        await storeB.RefreshAsync(At(device, "b", "b:1", seconds: 30), ct);
        Assert.Equal(At(device, "b", "b:1", seconds: 30), await storeA.GetAsync(device, ct));

        await storeB.ReleaseAsync(device, "b", ct);
        Assert.Null(await storeA.GetAsync(device, ct));
    }

    [Fact]
    public async Task A_presence_not_refreshed_expires_as_when_its_node_died()
    {
        var prefix = NatsNode.NewPrefix();
        await using var node = await NatsNode.StartBusAsync(NatsNode.Url, prefix, s => s["M2M:Nats:PresenceExpiry"] = "00:00:02");
        var store = node.Services.GetRequiredService<IPresenceStore>();
        var device = Guid.NewGuid();
        await store.ClaimAsync(At(device, "a", "a:1"), TestContext.Current.CancellationToken);
        Assert.NotNull(await store.GetAsync(device, TestContext.Current.CancellationToken));

        await NatsNode.EventuallyAsync(async () => await store.GetAsync(device, TestContext.Current.CancellationToken) is null, "the entry expired", TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task A_refresh_records_again_an_entry_that_expired_while_its_node_still_holds_the_device()
    {
        var prefix = NatsNode.NewPrefix();
        await using var node = await NatsNode.StartBusAsync(NatsNode.Url, prefix, s => s["M2M:Nats:PresenceExpiry"] = "00:00:02");
        var store = node.Services.GetRequiredService<IPresenceStore>();
        var device = Guid.NewGuid();
        var ct = TestContext.Current.CancellationToken;
        await store.ClaimAsync(At(device, "a", "a:1"), ct);
        await NatsNode.EventuallyAsync(async () => await store.GetAsync(device, ct) is null, "the entry expired", TimeSpan.FromSeconds(30));

        await store.RefreshAsync(At(device, "a", "a:1", seconds: 5), ct);

        Assert.Equal(At(device, "a", "a:1", seconds: 5), await store.GetAsync(device, ct));
    }

    [Fact]
    public async Task A_refresh_of_an_expired_entry_does_not_overwrite_a_claim_made_since()
    {
        var prefix = NatsNode.NewPrefix();
        await using var nodeA = await NatsNode.StartBusAsync(NatsNode.Url, prefix);
        await using var nodeB = await NatsNode.StartBusAsync(NatsNode.Url, prefix);
        var storeA = nodeA.Services.GetRequiredService<IPresenceStore>();
        var storeB = nodeB.Services.GetRequiredService<IPresenceStore>();
        var device = Guid.NewGuid();
        var ct = TestContext.Current.CancellationToken;
        await storeB.ClaimAsync(At(device, "b", "b:1"), ct);

        await storeA.RefreshAsync(At(device, "a", "a:1", seconds: 5), ct);

        Assert.Equal(At(device, "b", "b:1"), await storeA.GetAsync(device, ct));
    }
}
