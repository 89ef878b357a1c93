using System.Globalization;
using M2M.Storage.Files;
using M2M.Storage.Postgres.Registry;
using M2M.Storage.Registry;
using Npgsql;

namespace M2M.Storage.Postgres.Files;

/// <summary>
/// <see cref="IFileStore"/> on a <see cref="PostgresRegistry"/>: metadata as registry values, content in
/// <c>registry_block</c> rows <c>(path, block) → bytea</c> that belong to the file's node (a real delete of
/// the node, or the cleanup of a soft delete, removes them by cascade).
/// </summary>
public sealed class PostgresFileStore(PostgresRegistry registry) : IFileStore
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

        // The values of an empty, incomplete file and the removal of the old blocks: one transaction.
        var batch = new RegistryBatch()
            .SetValue(path, FileValues.IsFile, "1")
            .SetValue(path, FileValues.FileName, fileName)
            .SetValue(path, FileValues.ContentType, contentType)
            .SetValue(path, FileValues.Size, "0")
            .SetValue(path, FileValues.BlockSize, size.ToString(CultureInfo.InvariantCulture))
            .SetValue(path, FileValues.Complete, "0");
        await registry.InTransactionAsync(async (connection, transaction, ct) =>
        {
            await registry.WriteInTransactionAsync(connection, transaction, batch, ct).ConfigureAwait(false);
            await using var clear = new NpgsqlCommand($"DELETE FROM {registry.Store.Blocks} WHERE path = $1", connection, transaction);
            clear.Parameters.Add(PostgresRegistry.Text(path.Value));
            await clear.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
        return new PostgresFileStream(registry.Store, path, size, 0, writable: true);
    }

    public async ValueTask<Stream> OpenReadAsync(RegistryPath path, CancellationToken cancellationToken = default)
    {
        var info = await GetInfoAsync(path, cancellationToken).ConfigureAwait(false) ?? throw new StoredFileNotFoundException(path);
        if (!info.IsComplete)
        {
            throw new StoredFileIncompleteException(path);
        }
        return new PostgresFileStream(registry.Store, path, info.BlockSize, info.Size, writable: false);
    }

    public async ValueTask<Stream> OpenWriteAsync(RegistryPath path, CancellationToken cancellationToken = default)
    {
        var info = await GetInfoAsync(path, cancellationToken).ConfigureAwait(false) ?? throw new StoredFileNotFoundException(path);
        await registry.SetValueAsync(path, FileValues.Complete, "0", cancellationToken: cancellationToken).ConfigureAwait(false);
        return new PostgresFileStream(registry.Store, path, info.BlockSize, info.Size, writable: true);
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
        // A real delete removes the node's rows, its blocks with them.
        return await registry.DeleteAsync(path, hard: true, cancellationToken).ConfigureAwait(false);
    }
}
