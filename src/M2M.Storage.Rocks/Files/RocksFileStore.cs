using System.Globalization;
using M2M.Storage.Files;
using M2M.Storage.Registry;
using M2M.Storage.Rocks.Registry;
using RocksDbSharp;

namespace M2M.Storage.Rocks.Files;

/// <summary>
/// <see cref="IFileStore"/> on a <see cref="RocksRegistry"/>: metadata as registry values, content in
/// the <c>blocks</c> column family (<c>path \0 block#</c>).
/// </summary>
public sealed class RocksFileStore(RocksRegistry registry) : IFileStore
{
    public async ValueTask<Stream> CreateAsync(RegistryPath path, string fileName, string contentType, int? blockSize = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(fileName);
        ArgumentException.ThrowIfNullOrEmpty(contentType);
        RegistryLimits.Check(FileValues.FileName, fileName);
        RegistryLimits.Check(FileValues.ContentType, contentType);
        if (blockSize is { } requested && (requested < IFileStore.MinBlockSize || requested > IFileStore.MaxBlockSize))
        {
            throw new StoredFileException($"Block size {requested} is outside [{IFileStore.MinBlockSize}, {IFileStore.MaxBlockSize}].");
        }
        var existing = await GetInfoAsync(path, cancellationToken).ConfigureAwait(false);
        if (existing is not null && blockSize is { } wanted && wanted != existing.BlockSize)
        {
            throw new StoredFileException($"The file at '{path}' has block size {existing.BlockSize}; it is fixed once set.");
        }
        var size = existing?.BlockSize ?? blockSize ?? IFileStore.DefaultBlockSize;

        // Incomplete and empty first, then the old blocks go: a crash in between leaves an empty, incomplete file.
        await registry.SetValuesAsync(path, new Dictionary<string, string>
        {
            [FileValues.IsFile] = "1",
            [FileValues.FileName] = fileName,
            [FileValues.ContentType] = contentType,
            [FileValues.Size] = "0",
            [FileValues.BlockSize] = size.ToString(CultureInfo.InvariantCulture),
            [FileValues.Complete] = "0",
        }, cancellationToken: cancellationToken).ConfigureAwait(false);
        DeleteBlocks(path);
        return new RocksFileStream(registry.Store, path, size, 0, writable: true);
    }

    public async ValueTask<Stream> OpenReadAsync(RegistryPath path, CancellationToken cancellationToken = default)
    {
        var info = await GetInfoAsync(path, cancellationToken).ConfigureAwait(false) ?? throw new StoredFileNotFoundException(path);
        if (!info.IsComplete)
        {
            throw new StoredFileIncompleteException(path);
        }
        return new RocksFileStream(registry.Store, path, info.BlockSize, info.Size, writable: false);
    }

    public async ValueTask<Stream> OpenWriteAsync(RegistryPath path, CancellationToken cancellationToken = default)
    {
        var info = await GetInfoAsync(path, cancellationToken).ConfigureAwait(false) ?? throw new StoredFileNotFoundException(path);
        await registry.SetValueAsync(path, FileValues.Complete, "0", cancellationToken: cancellationToken).ConfigureAwait(false);
        return new RocksFileStream(registry.Store, path, info.BlockSize, info.Size, writable: true);
    }

    public async ValueTask<StoredFileInfo?> GetInfoAsync(RegistryPath path, CancellationToken cancellationToken = default)
    {
        // A soft-deleted file keeps its rows until cleanup but is no longer a file.
        if (await registry.GetStatusAsync(path, cancellationToken).ConfigureAwait(false) != RegistryNodeStatus.Created)
        {
            return null;
        }
        var values = await registry.GetValuesAsync(path, cancellationToken).ConfigureAwait(false);
        if (values.GetValueOrDefault(FileValues.IsFile) != "1")
        {
            return null;
        }
        var blockSize = RegistryValueExtensions.ParseInt64(values.GetValueOrDefault(FileValues.BlockSize) ?? "") ?? IFileStore.DefaultBlockSize;
        if (blockSize < IFileStore.MinBlockSize || blockSize > IFileStore.MaxBlockSize)
        {
            throw new StoredFileException($"The file at '{path}' has an invalid block size {blockSize}.");
        }
        var size = RegistryValueExtensions.ParseInt64(values.GetValueOrDefault(FileValues.Size) ?? "") ?? 0;
        return new StoredFileInfo(
            path,
            values.GetValueOrDefault(FileValues.FileName) ?? "",
            values.GetValueOrDefault(FileValues.ContentType) ?? "application/octet-stream",
            Math.Max(0, size),
            (int)blockSize,
            values.GetValueOrDefault(FileValues.Complete) == "1");
    }

    public async ValueTask<bool> DeleteAsync(RegistryPath path, CancellationToken cancellationToken = default)
    {
        if (await GetInfoAsync(path, cancellationToken).ConfigureAwait(false) is null)
        {
            return false;
        }
        // A real delete removes the node's rows and its blocks in one batch.
        return await registry.DeleteAsync(path, hard: true, cancellationToken).ConfigureAwait(false);
    }

    private void DeleteBlocks(RegistryPath path)
    {
        var store = registry.Store;
        var start = RegistryKeys.BlockPrefix(path);
        var end = (byte[])start.Clone();
        end[^1] = 1;
        using var batch = new WriteBatch();
        batch.DeleteRange(start, (ulong)start.Length, end, (ulong)end.Length, store.Family(RocksStore.Families.Blocks));
        store.Db.Write(batch, store.WriteOptions);
    }
}
