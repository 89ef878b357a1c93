using M2M.Storage.Contracts;
using M2M.Storage.Registry;

namespace M2M.Storage.Rocks.Tests;

/// <summary>
/// The registry contract with the engine-neutral subtree operations (<see cref="RegistrySubtree"/>:
/// export, import, copy, move) — what a backend that does not implement them gets — over the node
/// operations of RocksDB, and the same results as the RocksDB fast paths.
/// </summary>
public sealed class NeutralSubtreeRegistryTests : RegistryContract
{
    private readonly RocksBackend _backend;

    public NeutralSubtreeRegistryTests() => _backend = new RocksBackend(Time);

    protected override IRegistry CreateRegistry(TimeProvider time) => new NodeOperationsOnly(_backend.Registry);

    public override void Dispose() => _backend.Dispose();

    private static RegistryPath P(string path) => RegistryPath.Parse(path);

    private async Task BuildTreeAsync(string root)
    {
        await Registry.SetValuesAsync(P(root), new Dictionary<string, string> { ["name"] = "n", ["b"] = "2" }, cancellationToken: Ct);
        await Registry.SetValueAsync(P(root), "ttl", "t", TimeSpan.FromMinutes(5), Ct);
        await Registry.SetValueAsync(P(root + "kid/grand/"), "deep", "1", cancellationToken: Ct);
        await Registry.CreateAsync(P(root + ".hidden/"), cancellationToken: Ct);
        await Registry.SetValueAsync(P(root + "gone/"), "x", "1", cancellationToken: Ct);
        await Registry.DeleteAsync(P(root + "gone/"), cancellationToken: Ct);
        await using var file = await _backend.Files.CreateAsync(P(root + "kid/file/"), "f.bin", "application/octet-stream", 512, Ct);
        await file.WriteAsync(Enumerable.Range(0, 1500).Select(i => (byte)(i * 7)).ToArray(), Ct);
    }

    private async Task<byte[]> ReadFileAsync(string path)
    {
        await using var stream = await _backend.Files.OpenReadAsync(P(path), Ct);
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        return bytes;
    }

    [Fact]
    public async Task The_neutral_copy_gives_the_tree_and_file_content_the_RocksDB_copy_gives()
    {
        await BuildTreeAsync("/src/");

        await Registry.CopyAsync(P("/src/"), P("/neutral/"), Ct);
        await _backend.Registry.CopyAsync(P("/src/"), P("/rocks/"), Ct);

        var expected = await Registry.ExportJsonAsync(P("/rocks/"), Ct);
        Assert.Equal(expected, await Registry.ExportJsonAsync(P("/neutral/"), Ct));
        Assert.Equal(await ReadFileAsync("/src/kid/file/"), await ReadFileAsync("/neutral/kid/file/"));
        Assert.Equal(RegistryNodeStatus.Undefined, await Registry.GetStatusAsync(P("/neutral/gone/"), Ct));
    }

    [Fact]
    public async Task The_neutral_import_gives_the_tree_the_RocksDB_import_gives()
    {
        await BuildTreeAsync("/src/");
        var json = await Registry.ExportJsonAsync(P("/src/"), Ct);
        // A soft-deleted target is purged, then re-created from the document.
        await Registry.SetValueAsync(P("/neutral/old/"), "stale", "1", cancellationToken: Ct);
        await Registry.DeleteAsync(P("/neutral/"), cancellationToken: Ct);

        await Registry.ImportJsonAsync(P("/neutral/"), json, Ct);
        await _backend.Registry.ImportJsonAsync(P("/rocks/"), json, Ct);

        Assert.Equal(json, await Registry.ExportJsonAsync(P("/neutral/"), Ct));
        Assert.Equal(await Registry.ExportJsonAsync(P("/rocks/"), Ct), await Registry.ExportJsonAsync(P("/neutral/"), Ct));
        Assert.Equal(RegistryNodeStatus.Undefined, await Registry.GetStatusAsync(P("/neutral/old/"), Ct));
    }

    [Fact]
    public async Task Entries_already_expired_are_not_imported()
    {
        var past = Time.GetUtcNow().AddMinutes(-1).ToUnixTimeMilliseconds();
        var future = Time.GetUtcNow().AddMinutes(1).ToUnixTimeMilliseconds();

        await Registry.ImportJsonAsync(P("/exp/"), $$$"""{"values":{"old":"1","new":"2"},"expires":{"old":{{{past}}},"new":{{{future}}}}}""", Ct);

        Assert.Equal(new[] { new RegistryEntry("new", "2", future) }, await Registry.GetEntriesAsync(P("/exp/"), Ct));
    }

    /// <summary>Forwards a registry's node operations only: the subtree operations are <see cref="IRegistry"/>'s own.</summary>
    private sealed class NodeOperationsOnly(IRegistry inner) : DelegatingRegistry(inner), IRegistry
    {
        // Forwarded as before (a member with a default body: not in the base).
        public ValueTask<int> CleanupAsync(CancellationToken cancellationToken = default) => Inner.CleanupAsync(cancellationToken);
    }
}
