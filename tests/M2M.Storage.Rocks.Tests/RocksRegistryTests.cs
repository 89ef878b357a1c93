using System.Text;
using M2M.Storage.Registry;
using M2M.Storage.Contracts;

namespace M2M.Storage.Rocks.Tests;

/// <summary>The registry contract on RocksDB, plus the key layout and crash repair of that backend.</summary>
public sealed class RocksRegistryTests : RegistryContract
{
    private readonly RocksBackend _backend;

    public RocksRegistryTests() => _backend = new RocksBackend(Time);

    private RocksBackend Backend => _backend;

    protected override IRegistry CreateRegistry(TimeProvider time) => Backend.Registry;

    public override void Dispose() => _backend.Dispose();

    private static RegistryPath P(string path) => RegistryPath.Parse(path);

    private static string Show(byte[] key) => Encoding.UTF8.GetString(key).Replace('\0', '|');

    [Fact]
    public async Task Each_value_status_and_child_link_is_its_own_key()
    {
        await Registry.SetValuesAsync(P("/device/d1/"), new Dictionary<string, string> { ["a"] = "1", ["b"] = "2" }, cancellationToken: Ct);

        var keys = Backend.RawKeys(RocksStore.Families.Registry, "/device/").Select(Show).ToList();

        Assert.Equal(["/device/|cd1", "/device/|s", "/device/d1/|s", "/device/d1/|va", "/device/d1/|vb"], keys);
        Assert.Contains("/|cdevice", Backend.RawKeys(RocksStore.Families.Registry, "/\0").Select(Show));
    }

    [Fact]
    public async Task A_soft_delete_interrupted_after_its_first_step_is_finished_by_cleanup_after_a_restart()
    {
        await Registry.SetValueAsync(P("/tree/node/"), "k", "v", cancellationToken: Ct);
        await Registry.SetValueAsync(P("/tree/node/a/"), "k", "v", cancellationToken: Ct);
        await Registry.SetValueAsync(P("/tree/node/a/b/"), "k", "v", cancellationToken: Ct);
        Backend.Registry.FaultHook = step => throw new SimulatedCrashException(step);

        await Assert.ThrowsAsync<SimulatedCrashException>(() => Registry.DeleteAsync(P("/tree/node/"), cancellationToken: Ct).AsTask());
        Backend.Reopen();
        var registry = Backend.Registry;

        // The crash left the node deleted and unlinked but its descendants still marked created.
        Assert.Equal(RegistryNodeStatus.Deleted, await registry.GetStatusAsync(P("/tree/node/"), Ct));
        Assert.Equal(RegistryNodeStatus.Created, await registry.GetStatusAsync(P("/tree/node/a/b/"), Ct));
        Assert.Empty(await registry.GetChildrenAsync(P("/tree/"), cancellationToken: Ct));

        Assert.Equal(1, await registry.CleanupAsync(Ct));

        Assert.Equal(RegistryNodeStatus.Undefined, await registry.GetStatusAsync(P("/tree/node/"), Ct));
        Assert.Equal(RegistryNodeStatus.Undefined, await registry.GetStatusAsync(P("/tree/node/a/b/"), Ct));
        Assert.Empty(Backend.RawKeys(RocksStore.Families.Registry, "/tree/node/"));
        Assert.Empty(Backend.RawKeys(RocksStore.Families.Registry, "\u0001d"));
    }

    [Fact]
    public async Task A_real_delete_interrupted_before_removing_rows_is_finished_by_cleanup()
    {
        await Registry.SetValueAsync(P("/hard/node/kid/"), "k", "v", cancellationToken: Ct);
        Backend.Registry.FaultHook = step => throw new SimulatedCrashException(step);

        await Assert.ThrowsAsync<SimulatedCrashException>(() => Registry.DeleteAsync(P("/hard/node/"), hard: true, Ct).AsTask());
        Backend.Reopen();

        Assert.Equal(RegistryNodeStatus.Deleted, await Backend.Registry.GetStatusAsync(P("/hard/node/"), Ct));
        Assert.NotEmpty(Backend.RawKeys(RocksStore.Families.Registry, "/hard/node/"));
        Assert.Equal(1, await Backend.Registry.CleanupAsync(Ct));
        Assert.Empty(Backend.RawKeys(RocksStore.Families.Registry, "/hard/node/"));
    }

    [Fact]
    public async Task A_real_delete_interrupted_by_a_crash_is_finished_by_cleanup_whatever_the_grace_period()
    {
        await Registry.SetValueAsync(P("/hard2/node/kid/"), "k", "v", cancellationToken: Ct);
        await Registry.SetValueAsync(P("/hard2/soft/"), "k", "v", cancellationToken: Ct);
        await Registry.DeleteAsync(P("/hard2/soft/"), cancellationToken: Ct);
        Backend.Registry.FaultHook = step => throw new SimulatedCrashException(step);

        await Assert.ThrowsAsync<SimulatedCrashException>(() => Registry.DeleteAsync(P("/hard2/node/"), hard: true, Ct).AsTask());
        Backend.Reopen();

        // A week of grace: the soft delete of a moment ago stays, the interrupted real delete is finished.
        Assert.Equal(1, await Backend.Registry.CleanupAsync(Time.GetUtcNow() - TimeSpan.FromDays(7), Ct));
        Assert.Empty(Backend.RawKeys(RocksStore.Families.Registry, "/hard2/node/"));
        Assert.Equal(RegistryNodeStatus.Deleted, await Backend.Registry.GetStatusAsync(P("/hard2/soft/"), Ct));
    }

    [Fact]
    public async Task A_half_created_node_left_by_a_crash_is_repaired_by_check()
    {
        await Registry.CreateAsync(P("/half/"), cancellationToken: Ct);
        // What a crash between "write status" and "link into parent" leaves (a backend without atomic batches),
        // and values written to a node whose status never made it.
        Backend.Store.Db.Put(Encoding.UTF8.GetBytes("/half/orphan/\0s"), "c"u8.ToArray(), Backend.Store.Family(RocksStore.Families.Registry));
        Backend.Store.Db.Put(Encoding.UTF8.GetBytes("/half/nostatus/\0vk"), new byte[8].Concat("v"u8.ToArray()).ToArray(), Backend.Store.Family(RocksStore.Families.Registry));
        Backend.Reopen();
        var registry = Backend.Registry;
        Assert.Empty(await registry.GetChildrenAsync(P("/half/"), cancellationToken: Ct));

        Assert.True(await registry.CheckAsync(P("/half/orphan/"), Ct));
        Assert.True(await registry.CheckAsync(P("/half/nostatus/"), Ct));

        Assert.Equal(["nostatus", "orphan"], await registry.GetChildrenAsync(P("/half/"), cancellationToken: Ct));
        Assert.Equal(RegistryNodeStatus.Created, await registry.GetStatusAsync(P("/half/nostatus/"), Ct));
        Assert.False(await registry.CheckAsync(P("/half/orphan/"), Ct));
    }

    [Fact]
    public async Task A_recreation_interrupted_after_purging_the_old_node_is_completed_by_check()
    {
        await Registry.SetValueAsync(P("/again/n/"), "old", "1", cancellationToken: Ct);
        await Registry.DeleteAsync(P("/again/n/"), cancellationToken: Ct);
        Backend.Registry.FaultHook = step => throw new SimulatedCrashException(step);

        var crash = await Assert.ThrowsAsync<SimulatedCrashException>(() => Registry.CreateAsync(P("/again/n/"), cancellationToken: Ct).AsTask());
        Assert.Contains("create:purged", crash.Message);
        Backend.Reopen();

        Assert.Equal(RegistryNodeStatus.Undefined, await Backend.Registry.GetStatusAsync(P("/again/n/"), Ct));
        Assert.True(await Backend.Registry.CheckAsync(P("/again/n/"), Ct));
        Assert.Equal(RegistryNodeStatus.Created, await Backend.Registry.GetStatusAsync(P("/again/n/"), Ct));
        Assert.Empty(await Backend.Registry.GetValuesAsync(P("/again/n/"), Ct));
    }

    [Fact]
    public async Task A_move_interrupted_after_the_copy_keeps_the_source_intact()
    {
        await Registry.SetValueAsync(P("/mv/src/"), "a", "1", cancellationToken: Ct);
        Backend.Registry.FaultHook = step => throw new SimulatedCrashException(step);

        await Assert.ThrowsAsync<SimulatedCrashException>(() => Registry.MoveAsync(P("/mv/src/"), P("/mv/dst/"), Ct).AsTask());
        Backend.Reopen();

        Assert.Equal("1", await Backend.Registry.GetValueAsync(P("/mv/src/"), "a", Ct));
        Assert.Equal(RegistryNodeStatus.Created, await Backend.Registry.GetStatusAsync(P("/mv/src/"), Ct));
        await Backend.Registry.MoveAsync(P("/mv/src/"), P("/mv/dst/"), Ct);
        Assert.Equal("1", await Backend.Registry.GetValueAsync(P("/mv/dst/"), "a", Ct));
    }
}
