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
    public async Task A_node_does_not_release_a_device_another_node_claimed()
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

        await storeA.ReleaseAsync(device, "a", ct);
        Assert.Equal(At(device, "b", "b:1"), await storeA.GetAsync(device, ct));

        await storeB.ReleaseAsync(device, "b", ct);
        Assert.Null(await storeA.GetAsync(device, ct));
    }

    [Fact]
    public async Task A_refresh_moves_the_last_seen_time_of_its_own_claim_only()
    {
        var prefix = NatsNode.NewPrefix();
        await using var nodeA = await NatsNode.StartBusAsync(NatsNode.Url, prefix);
        await using var nodeB = await NatsNode.StartBusAsync(NatsNode.Url, prefix);
        var storeA = nodeA.Services.GetRequiredService<IPresenceStore>();
        var storeB = nodeB.Services.GetRequiredService<IPresenceStore>();
        var device = Guid.NewGuid();
        var ct = TestContext.Current.CancellationToken;
        await storeA.ClaimAsync(At(device, "a", "a:1"), ct);

        await storeA.RefreshAsync(At(device, "a", "a:1", seconds: 300), ct);
        Assert.Equal(At(device, "a", "a:1", seconds: 300), await storeB.GetAsync(device, ct));

        await storeB.ClaimAsync(At(device, "b", "b:1"), ct);
        await storeA.RefreshAsync(At(device, "a", "a:1", seconds: 600), ct);
        Assert.Equal(At(device, "b", "b:1"), await storeA.GetAsync(device, ct));
    }

    [Fact]
    public async Task The_claims_of_a_node_whose_lease_is_not_renewed_expire_as_when_it_died()
    {
        var prefix = NatsNode.NewPrefix();
        await using var node = await NatsNode.StartBusAsync(NatsNode.Url, prefix, s => s["M2M:Nats:PresenceExpiry"] = "00:00:02");
        await using var api = await NatsNode.StartBusAsync(NatsNode.Url, prefix, s => s["M2M:Nats:PresenceExpiry"] = "00:00:02");
        var store = node.Services.GetRequiredService<IPresenceStore>();
        var presence = api.Services.GetRequiredService<IDevicePresence>();
        var device = Guid.NewGuid();
        var ct = TestContext.Current.CancellationToken;
        await store.ClaimAsync(At(device, "a", "a:1"), ct);
        Assert.NotNull(await presence.GetAsync(device, ct));

        await NatsNode.EventuallyAsync(async () => await presence.GetAsync(device, ct) is null, "the claim lapsed with the lease", TimeSpan.FromSeconds(30));
        Assert.Null(await store.GetAsync(device, ct));
    }

    [Fact]
    public async Task A_renewed_lease_keeps_its_claims_live_past_the_expiry_without_touching_them()
    {
        var prefix = NatsNode.NewPrefix();
        await using var node = await NatsNode.StartBusAsync(NatsNode.Url, prefix, s => s["M2M:Nats:PresenceExpiry"] = "00:00:02");
        await using var api = await NatsNode.StartBusAsync(NatsNode.Url, prefix, s => s["M2M:Nats:PresenceExpiry"] = "00:00:02");
        var store = node.Services.GetRequiredService<IPresenceStore>();
        var presence = api.Services.GetRequiredService<IDevicePresence>();
        var devices = Enumerable.Range(0, 3).Select(_ => Guid.NewGuid()).ToArray();
        var ct = TestContext.Current.CancellationToken;
        foreach (var device in devices)
        {
            await store.ClaimAsync(At(device, "a", $"a:{device:N}"), ct);
        }

        // Three times the expiry, renewing the lease only.
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(6);
        while (DateTime.UtcNow < until)
        {
            Assert.True(await store.RenewAsync("a", ct));
            await Task.Delay(500, ct);
        }

        foreach (var device in devices)
        {
            Assert.Equal(At(device, "a", $"a:{device:N}"), await presence.GetAsync(device, ct));
        }
    }

    [Fact]
    public async Task A_lapsed_lease_is_reported_at_its_renewal_and_the_claims_made_again_are_live()
    {
        var prefix = NatsNode.NewPrefix();
        await using var node = await NatsNode.StartBusAsync(NatsNode.Url, prefix, s => s["M2M:Nats:PresenceExpiry"] = "00:00:02");
        var store = node.Services.GetRequiredService<IPresenceStore>();
        var device = Guid.NewGuid();
        var ct = TestContext.Current.CancellationToken;
        await store.ClaimAsync(At(device, "a", "a:1"), ct);
        Assert.True(await store.RenewAsync("a", ct));
        await NatsNode.EventuallyAsync(async () => await store.GetAsync(device, ct) is null, "the claim lapsed with the lease", TimeSpan.FromSeconds(30));

        Assert.False(await store.RenewAsync("a", ct));
        await store.ClaimAsync(At(device, "a", "a:1", seconds: 5), ct);

        Assert.Equal(At(device, "a", "a:1", seconds: 5), await store.GetAsync(device, ct));
    }

    [Fact]
    public async Task The_claims_of_an_earlier_run_of_a_restarted_node_are_not_live_and_name_no_connection_to_close()
    {
        var prefix = NatsNode.NewPrefix();
        var device = Guid.NewGuid();
        var ct = TestContext.Current.CancellationToken;
        await using (var before = await NatsNode.StartBusAsync(NatsNode.Url, prefix))
        {
            await before.Services.GetRequiredService<IPresenceStore>().ClaimAsync(At(device, "a", "a:1"), ct);
        }

        // The same node name, restarted (a configured M2M:Ingest:NodeName): its lease names the new run.
        await using var after = await NatsNode.StartBusAsync(NatsNode.Url, prefix);
        var store = after.Services.GetRequiredService<IPresenceStore>();
        Assert.False(await store.RenewAsync("a", ct));

        Assert.Null(await store.GetAsync(device, ct));
        Assert.Null(await store.ClaimAsync(At(device, "a", "a:2"), ct));
        Assert.Equal(At(device, "a", "a:2"), await store.GetAsync(device, ct));
    }

    [Fact]
    public async Task A_release_by_an_earlier_run_of_the_node_does_not_delete_the_claim_of_the_current_one()
    {
        var prefix = NatsNode.NewPrefix();
        await using var before = await NatsNode.StartBusAsync(NatsNode.Url, prefix);
        await using var after = await NatsNode.StartBusAsync(NatsNode.Url, prefix);
        var old = before.Services.GetRequiredService<IPresenceStore>();
        var current = after.Services.GetRequiredService<IPresenceStore>();
        var device = Guid.NewGuid();
        var ct = TestContext.Current.CancellationToken;
        await old.ClaimAsync(At(device, "a", "a:1"), ct);
        await current.ClaimAsync(At(device, "a", "a:9"), ct);

        await old.ReleaseAsync(device, "a", ct);

        Assert.Equal(At(device, "a", "a:9"), await current.GetAsync(device, ct));
    }
}
