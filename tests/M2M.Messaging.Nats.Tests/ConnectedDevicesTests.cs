using M2M.Messaging.Presence;

namespace M2M.Messaging.Nats.Tests;

/// <summary>The API node's copy of the shared presence: which devices are connected, from memory.</summary>
public class ConnectedDevicesTests
{
    private static DevicePresence At(Guid device, string node, string connection) =>
        new(device, node, connection, DateTimeOffset.FromUnixTimeSeconds(1_800_000_000), DateTimeOffset.FromUnixTimeSeconds(1_800_000_000));

    [Fact]
    public async Task The_copy_holds_the_claims_made_before_and_after_it_loaded_and_forgets_released_ones()
    {
        await using var processes = await PresenceProcesses.StartAsync(2);
        var (store, online) = (processes.Store(0), processes.Get<IConnectedDevices>(1));
        var (before, after, never) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());
        var ct = TestContext.Current.CancellationToken;
        await store.ClaimAsync(At(before, "a", "a:1"), ct);

        await online.WaitReadyAsync(ct);
        Assert.True(online.IsConnected(before));
        Assert.False(online.IsConnected(never));

        await store.ClaimAsync(At(after, "a", "a:2"), ct);
        await NatsNode.EventuallyAsync(() => Task.FromResult(online.IsConnected(after)), "a claim made after the load", TimeSpan.FromSeconds(30));

        await store.ReleaseAsync(before, "a", ct);
        await NatsNode.EventuallyAsync(() => Task.FromResult(!online.IsConnected(before)), "a released device", TimeSpan.FromSeconds(30));
        Assert.True(online.IsConnected(after));
    }

    [Fact]
    public async Task The_devices_of_a_node_whose_lease_expired_are_not_connected_in_the_copy()
    {
        await using var processes = await PresenceProcesses.StartAsync(2, expiry: "00:00:02");
        var (store, online) = (processes.Store(0), processes.Get<IConnectedDevices>(1));
        var device = Guid.NewGuid();
        var ct = TestContext.Current.CancellationToken;
        await store.ClaimAsync(At(device, "a", "a:1"), ct);
        await online.WaitReadyAsync(ct);
        await NatsNode.EventuallyAsync(() => Task.FromResult(online.IsConnected(device)), "the claim in the copy", TimeSpan.FromSeconds(30));

        // No renewal: the node is gone.
        await NatsNode.EventuallyAsync(() => Task.FromResult(!online.IsConnected(device)), "the claim lapsed with the lease", TimeSpan.FromSeconds(30));

        // The same node name, a new run: the old claim stays dead, a new one is live.
        var again = processes.Store(await processes.StartOneAsync());
        Assert.False(await again.RenewAsync("a", ct));
        await Task.Delay(TimeSpan.FromSeconds(1.5), ct);
        Assert.False(online.IsConnected(device));
        await again.ClaimAsync(At(device, "a", "a:7"), ct);
        await NatsNode.EventuallyAsync(() => Task.FromResult(online.IsConnected(device)), "the new run's claim", TimeSpan.FromSeconds(30));
    }
}
