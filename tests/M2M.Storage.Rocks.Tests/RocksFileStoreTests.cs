using M2M.Storage.Files;
using M2M.Storage.Registry;
using M2M.Storage.Contracts;

namespace M2M.Storage.Rocks.Tests;

/// <summary>The file contract on RocksDB, plus the block layout of that backend.</summary>
public sealed class RocksFileStoreTests : FileStoreContract
{
    private readonly RocksBackend _backend = new();

    protected override IFileStore Files => _backend.Files;

    protected override IRegistry Registry => _backend.Registry;

    public override void Dispose() => _backend.Dispose();

    private static RegistryPath P(string path) => RegistryPath.Parse(path);

    [Fact]
    public async Task Content_is_stored_in_numbered_blocks_of_the_block_size()
    {
        await using (var stream = await Files.CreateAsync(P("/blk/f/"), "f", "x/y", 1024, Ct))
        {
            stream.Write(new byte[2500]);
        }

        var keys = _backend.RawKeys(RocksStore.Families.Blocks, "/blk/f/\0");
        Assert.Equal([0L, 1L, 2L], keys.Select(k => System.Buffers.Binary.BinaryPrimitives.ReadInt64BigEndian(k.AsSpan(k.Length - 8))));
        Assert.Equal(452, _backend.Store.Db.Get(keys[2], _backend.Store.Family(RocksStore.Families.Blocks)).Length);
    }

    [Fact]
    public async Task Truncating_drops_the_blocks_past_the_new_end()
    {
        await using (var stream = await Files.CreateAsync(P("/blk/t/"), "t", "x/y", 1024, Ct))
        {
            stream.Write(new byte[5000]);
            stream.SetLength(1500);
        }

        Assert.Equal(2, _backend.RawKeys(RocksStore.Families.Blocks, "/blk/t/\0").Count);
    }

    [Fact]
    public async Task Deleting_a_file_or_soft_deleting_its_owner_and_cleaning_up_removes_its_blocks()
    {
        foreach (var path in new[] { "/blk/d1/file/", "/blk/d2/file/" })
        {
            await using var stream = await Files.CreateAsync(P(path), "f", "x/y", 1024, Ct);
            stream.Write(new byte[4096]);
        }

        await Files.DeleteAsync(P("/blk/d1/file/"), Ct);
        Assert.Empty(_backend.RawKeys(RocksStore.Families.Blocks, "/blk/d1/"));

        await Registry.DeleteAsync(P("/blk/d2/"), cancellationToken: Ct);
        Assert.Equal(4, _backend.RawKeys(RocksStore.Families.Blocks, "/blk/d2/").Count);
        await Registry.CleanupAsync(Ct);
        Assert.Empty(_backend.RawKeys(RocksStore.Families.Blocks, "/blk/d2/"));
    }
}
