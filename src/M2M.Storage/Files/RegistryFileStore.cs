using System.Globalization;
using M2M.Storage.Registry;

namespace M2M.Storage.Files;

/// <summary>
/// The engine-neutral part of an <see cref="IFileStore"/> over an <see cref="IRegistry"/>: a file is a node
/// whose values hold its metadata (<see cref="FileValues"/>); its content is blocks the backend keeps with
/// the node (<see cref="OpenBlocks"/>). A backend supplies the block stream and how a new file replaces
/// the old blocks.
/// </summary>
public abstract class RegistryFileStore(IRegistry registry) : IFileStore
{
    /// <summary>The registry the files are nodes of.</summary>
    protected IRegistry Registry { get; } = registry;

    /// <summary>
    /// Writes <paramref name="metadata"/> (an empty, incomplete file) and removes the blocks of whatever
    /// file was at <paramref name="path"/> before; a crash must never leave old blocks under new metadata
    /// claiming to be complete.
    /// </summary>
    protected abstract ValueTask ResetAsync(RegistryPath path, IReadOnlyDictionary<string, string> metadata, CancellationToken cancellationToken);

    /// <summary>The stream over the file's blocks (<paramref name="size"/> bytes now).</summary>
    protected abstract Stream OpenBlocks(RegistryPath path, int blockSize, long size, bool writable);

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
        await ResetAsync(path, new Dictionary<string, string>
        {
            [FileValues.IsFile] = "1",
            [FileValues.FileName] = fileName,
            [FileValues.ContentType] = contentType,
            [FileValues.Size] = "0",
            [FileValues.BlockSize] = size.ToString(CultureInfo.InvariantCulture),
            [FileValues.Complete] = "0",
        }, cancellationToken).ConfigureAwait(false);
        return OpenBlocks(path, size, 0, writable: true);
    }

    public async ValueTask<Stream> OpenReadAsync(RegistryPath path, CancellationToken cancellationToken = default)
    {
        var info = await GetInfoAsync(path, cancellationToken).ConfigureAwait(false) ?? throw new StoredFileNotFoundException(path);
        if (!info.IsComplete)
        {
            throw new StoredFileIncompleteException(path);
        }
        return OpenBlocks(path, info.BlockSize, info.Size, writable: false);
    }

    public async ValueTask<Stream> OpenWriteAsync(RegistryPath path, CancellationToken cancellationToken = default)
    {
        var info = await GetInfoAsync(path, cancellationToken).ConfigureAwait(false) ?? throw new StoredFileNotFoundException(path);
        await Registry.SetValueAsync(path, FileValues.Complete, "0", cancellationToken: cancellationToken).ConfigureAwait(false);
        return OpenBlocks(path, info.BlockSize, info.Size, writable: true);
    }

    public async ValueTask<StoredFileInfo?> GetInfoAsync(RegistryPath path, CancellationToken cancellationToken = default)
    {
        // A soft-deleted file keeps its rows until cleanup but is no longer a file.
        if (await Registry.GetStatusAsync(path, cancellationToken).ConfigureAwait(false) != RegistryNodeStatus.Created)
        {
            return null;
        }
        var values = await Registry.GetValuesAsync(path, cancellationToken).ConfigureAwait(false);
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
        // A real delete removes the node's rows with its blocks.
        return await Registry.DeleteAsync(path, hard: true, cancellationToken).ConfigureAwait(false);
    }
}
