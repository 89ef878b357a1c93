using M2M.Storage.Files;
using M2M.Storage.Registry;
using M2M.Storage.Rocks.Registry;
using RocksDbSharp;

namespace M2M.Storage.Rocks.Files;

/// <summary>
/// <see cref="IFileStore"/> on a <see cref="RocksRegistry"/>: metadata as registry values, content in
/// the <c>blocks</c> column family (<c>path \0 block#</c>).
/// </summary>
public sealed class RocksFileStore(RocksRegistry registry) : RegistryFileStore(registry)
{
    protected override async ValueTask ResetAsync(RegistryPath path, IReadOnlyDictionary<string, string> metadata, CancellationToken cancellationToken)
    {
        // Incomplete and empty first, then the old blocks go: a crash in between leaves an empty, incomplete file.
        await registry.SetValuesAsync(path, metadata, cancellationToken: cancellationToken).ConfigureAwait(false);
        var store = registry.Store;
        var start = RegistryKeys.BlockPrefix(path);
        var end = (byte[])start.Clone();
        end[^1] = 1;
        using var batch = new WriteBatch();
        batch.DeleteRange(start, (ulong)start.Length, end, (ulong)end.Length, store.Family(RocksStore.Families.Blocks));
        store.Db.Write(batch, store.WriteOptions);
    }

    protected override Stream OpenBlocks(RegistryPath path, int blockSize, long size, bool writable) =>
        new RocksFileStream(registry.Store, path, blockSize, size, writable);
}
