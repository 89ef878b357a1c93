using M2M.Messaging.Presence;

namespace M2M.Messaging.Nats.Tests;

/// <summary>Device presence in the JetStream key-value buckets, shared by every node.</summary>
public class PresenceStoreTests
{
    private static DevicePresence At(Guid device, string node, string connection, int seconds = 0) =>
        new(device, node, connection, DateTimeOffset.FromUnixTimeSeconds(1_800_000_000), DateTimeOffset.FromUnixTimeSeconds(1_800_000_000 + seconds));

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_claim_is_seen_by_every_node_and_names_the_connection_it_replaced()
    {
        await using var processes = await PresenceProcesses.StartAsync(3);
        var (storeA, storeB, presence) = (processes.Store(0), processes.Store(1), processes.Get<IDevicePresence>(2));
        var device = Guid.NewGuid();

        Assert.Null(await presence.GetAsync(device, Ct));
        Assert.Null(await storeA.ClaimAsync(At(device, "a", "a:1"), Ct));
        Assert.Equal("a:1", (await presence.GetAsync(device, Ct))?.ConnectionId);

        var replaced = await storeB.ClaimAsync(At(device, "b", "b:7"), Ct);

        Assert.Equal(At(device, "a", "a:1"), replaced);
        Assert.Equal(At(device, "b", "b:7"), await presence.GetAsync(device, Ct));
    }

    [Fact]
    public async Task A_node_does_not_release_a_device_another_node_claimed()
    {
        await using var processes = await PresenceProcesses.StartAsync(2);
        var (storeA, storeB) = (processes.Store(0), processes.Store(1));
        var device = Guid.NewGuid();
        await storeA.ClaimAsync(At(device, "a", "a:1"), Ct);
        await storeB.ClaimAsync(At(device, "b", "b:1"), Ct);

        await storeA.ReleaseAsync(device, "a", Ct);
        Assert.Equal(At(device, "b", "b:1"), await storeA.GetAsync(device, Ct));

        await storeB.ReleaseAsync(device, "b", Ct);
        Assert.Null(await storeA.GetAsync(device, Ct));
    }

    [Fact]
    public async Task A_refresh_moves_the_last_seen_time_of_its_own_claim_only()
    {
        await using var processes = await PresenceProcesses.StartAsync(2);
        var (storeA, storeB) = (processes.Store(0), processes.Store(1));
        var device = Guid.NewGuid();
        await storeA.ClaimAsync(At(device, "a", "a:1"), Ct);

        await storeA.RefreshAsync(At(device, "a", "a:1", seconds: 300), Ct);
        Assert.Equal(At(device, "a", "a:1", seconds: 300), await storeB.GetAsync(device, Ct));

        await storeB.ClaimAsync(At(device, "b", "b:1"), Ct);
        await storeA.RefreshAsync(At(device, "a", "a:1", seconds: 600), Ct);
        Assert.Equal(At(device, "b", "b:1"), await storeA.GetAsync(device, Ct));
    }

    [Fact]
    public async Task The_claims_of_a_node_whose_lease_is_not_renewed_expire_as_when_it_died()
    {
        await using var processes = await PresenceProcesses.StartAsync(2, expiry: "00:00:02");
        var (store, presence) = (processes.Store(0), processes.Get<IDevicePresence>(1));
        var device = Guid.NewGuid();
        await store.ClaimAsync(At(device, "a", "a:1"), Ct);
        Assert.NotNull(await presence.GetAsync(device, Ct));

        await NatsNode.EventuallyAsync(async () => await presence.GetAsync(device, Ct) is null, "the claim lapsed with the lease", TimeSpan.FromSeconds(30));
        Assert.Null(await store.GetAsync(device, Ct));
    }

    [Fact]
    public async Task A_renewed_lease_keeps_its_claims_live_past_the_expiry_without_touching_them()
    {
        await using var processes = await PresenceProcesses.StartAsync(2, expiry: "00:00:02");
        var (store, presence) = (processes.Store(0), processes.Get<IDevicePresence>(1));
        var devices = Enumerable.Range(0, 3).Select(_ => Guid.NewGuid()).ToArray();
        foreach (var device in devices)
        {
            await store.ClaimAsync(At(device, "a", $"a:{device:N}"), Ct);
        }

        // Three times the expiry, renewing the lease only.
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(6);
        while (DateTime.UtcNow < until)
        {
            Assert.True(await store.RenewAsync("a", Ct));
            await Task.Delay(500, Ct);
        }

        foreach (var device in devices)
        {
            Assert.Equal(At(device, "a", $"a:{device:N}"), await presence.GetAsync(device, Ct));
        }
    }

    [Fact]
    public async Task A_lapsed_lease_is_reported_at_its_renewal_and_the_claims_made_again_are_live()
    {
        await using var processes = await PresenceProcesses.StartAsync(1, expiry: "00:00:02");
        var store = processes.Store(0);
        var device = Guid.NewGuid();
        await store.ClaimAsync(At(device, "a", "a:1"), Ct);
        Assert.True(await store.RenewAsync("a", Ct));
        await NatsNode.EventuallyAsync(async () => await store.GetAsync(device, Ct) is null, "the claim lapsed with the lease", TimeSpan.FromSeconds(30));

        Assert.False(await store.RenewAsync("a", Ct));
        await store.ClaimAsync(At(device, "a", "a:1", seconds: 5), Ct);

        Assert.Equal(At(device, "a", "a:1", seconds: 5), await store.GetAsync(device, Ct));
    }

    [Fact]
    public async Task The_claims_of_an_earlier_run_of_a_restarted_node_are_not_live_and_name_no_connection_to_close()
    {
        await using var processes = await PresenceProcesses.StartAsync(1);
        var device = Guid.NewGuid();
        await processes.Store(0).ClaimAsync(At(device, "a", "a:1"), Ct);
        await processes.StopAsync(0);

        // The same node name, restarted (a configured M2M:Ingest:NodeName): its lease names the new run.
        var store = processes.Store(await processes.StartOneAsync());
        Assert.False(await store.RenewAsync("a", Ct));

        Assert.Null(await store.GetAsync(device, Ct));
        Assert.Null(await store.ClaimAsync(At(device, "a", "a:2"), Ct));
        Assert.Equal(At(device, "a", "a:2"), await store.GetAsync(device, Ct));
    }

    [Fact]
    public async Task A_release_by_an_earlier_run_of_the_node_does_not_delete_the_claim_of_the_current_one()
    {
        await using var processes = await PresenceProcesses.StartAsync(2);
        var (old, current) = (processes.Store(0), processes.Store(1));
        var device = Guid.NewGuid();
        await old.ClaimAsync(At(device, "a", "a:1"), Ct);
        await current.ClaimAsync(At(device, "a", "a:9"), Ct);

        await old.ReleaseAsync(device, "a", Ct);

        Assert.Equal(At(device, "a", "a:9"), await current.GetAsync(device, Ct));
    }
}
