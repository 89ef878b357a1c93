using System.Globalization;
using M2M.Storage.Files;
using M2M.Storage.Registry;
using M2M.Storage.Rocks.Registry;
using RocksDbSharp;

namespace M2M.Storage.Rocks.Files;

/// <summary>
/// The blocks of a file node in the <c>blocks</c> column family, the size and completion marks in the
/// registry's: each write is one <see cref="WriteBatch"/>, so block and size change together. Every
/// operation completes synchronously.
/// </summary>
internal sealed class RocksFileStream : BlockFileStream
{
    private readonly RocksDb _db;
    private readonly ColumnFamilyHandle _registry;
    private readonly ColumnFamilyHandle _blocks;
    private readonly WriteOptions _writeOptions;
    private readonly byte[] _blockEnd;

    public RocksFileStream(RocksStore store, RegistryPath path, int blockSize, long length, bool writable)
        : base(path, blockSize, length, writable)
    {
        _db = store.Db;
        _registry = store.Family(RocksStore.Families.Registry);
        _blocks = store.Family(RocksStore.Families.Blocks);
        _writeOptions = store.WriteOptions;
        _blockEnd = RegistryKeys.BlockPrefix(path);
        _blockEnd[^1] = 1;
    }

    protected override ValueTask<int> ReadBlockAsync(long index, byte[] buffer, CancellationToken cancellationToken)
    {
        var key = RegistryKeys.Block(Path, index);
        var read = _db.Get(key, key.Length, buffer, 0, BlockSize, _blocks);
        if (read > BlockSize)
        {
            throw new StoredFileException($"Block {index} of '{Path}' is larger than the block size {BlockSize}.");
        }
        return ValueTask.FromResult((int)Math.Max(0, read));
    }

    protected override ValueTask WriteAsync(BlockWrite write, CancellationToken cancellationToken)
    {
        using var batch = new WriteBatch();
        if (write.TruncateFrom >= 0)
        {
            var from = RegistryKeys.Block(Path, write.TruncateFrom);
            batch.DeleteRange(from, (ulong)from.Length, _blockEnd, (ulong)_blockEnd.Length, _blocks);
        }
        if (write.Block >= 0)
        {
            if (write.Data.IsEmpty)
            {
                batch.Delete(RegistryKeys.Block(Path, write.Block), _blocks);
            }
            else
            {
                batch.Put(RegistryKeys.Block(Path, write.Block), write.Data.Span, _blocks);
            }
        }
        batch.Put(RegistryKeys.Value(Path, FileValues.Size), RegistryKeys.EncodeValue(write.Length.ToString(CultureInfo.InvariantCulture), 0), _registry);
        if (write.Complete)
        {
            batch.Put(RegistryKeys.Value(Path, FileValues.Complete), RegistryKeys.EncodeValue("1", 0), _registry);
        }
        _db.Write(batch, _writeOptions);
        return ValueTask.CompletedTask;
    }
}
