using M2M.Storage.Registry;

namespace M2M.Storage.Files;

/// <summary>
/// Files stored on registry nodes: the node carries <c>.is_file=1</c>, <c>fname</c>, <c>ftype</c>,
/// <c>fsize</c>, <c>blsize</c> and <c>getOk</c>; the content lives in numbered blocks. Streams hold at
/// most one block in memory, so files of any size can be written and read.
/// </summary>
public interface IFileStore
{
    /// <summary>Default block size: 512 KiB.</summary>
    public const int DefaultBlockSize = 512 * 1024;

    /// <summary>Smallest accepted block size.</summary>
    public const int MinBlockSize = 512;

    /// <summary>Largest accepted block size.</summary>
    public const int MaxBlockSize = 16 * 1024 * 1024;

    /// <summary>
    /// Creates (or empties) the file at <paramref name="path"/> and opens it for writing.
    /// The block size is fixed once set: reusing an existing file with another size fails.
    /// Disposing the stream marks the file complete (<c>getOk=1</c>).
    /// </summary>
    /// <exception cref="StoredFileException">Invalid block size, or a block size other than the file's.</exception>
    ValueTask<Stream> CreateAsync(RegistryPath path, string fileName, string contentType, int? blockSize = null, CancellationToken cancellationToken = default);

    /// <summary>Opens an existing file for reading; it must be complete.</summary>
    /// <exception cref="StoredFileNotFoundException">No file at <paramref name="path"/>.</exception>
    /// <exception cref="StoredFileIncompleteException">The file is still being written (<c>getOk</c> is not 1).</exception>
    ValueTask<Stream> OpenReadAsync(RegistryPath path, CancellationToken cancellationToken = default);

    /// <summary>
    /// Opens an existing file for reading and writing (seek, truncate). The file is incomplete
    /// (<c>getOk=0</c>) until the stream is disposed.
    /// </summary>
    /// <exception cref="StoredFileNotFoundException">No file at <paramref name="path"/>.</exception>
    ValueTask<Stream> OpenWriteAsync(RegistryPath path, CancellationToken cancellationToken = default);

    /// <summary>The file's metadata, or <c>null</c> when the node is not a file.</summary>
    ValueTask<StoredFileInfo?> GetInfoAsync(RegistryPath path, CancellationToken cancellationToken = default);

    /// <summary>Deletes the file node and its blocks for real; <c>false</c> when there was no file.</summary>
    ValueTask<bool> DeleteAsync(RegistryPath path, CancellationToken cancellationToken = default);
}

/// <summary>Metadata of a stored file.</summary>
/// <param name="Path">The file's registry node.</param>
/// <param name="FileName">Display name (<c>fname</c>).</param>
/// <param name="ContentType">MIME type (<c>ftype</c>).</param>
/// <param name="Size">Size in bytes (<c>fsize</c>).</param>
/// <param name="BlockSize">Block size in bytes (<c>blsize</c>).</param>
/// <param name="IsComplete"><c>true</c> once completely written and closed (<c>getOk=1</c>).</param>
public sealed record StoredFileInfo(RegistryPath Path, string FileName, string ContentType, long Size, int BlockSize, bool IsComplete);

/// <summary>Base type of the file store's errors.</summary>
public class StoredFileException(string message) : IOException(message);

/// <summary>There is no file at the path.</summary>
public sealed class StoredFileNotFoundException(RegistryPath path) : StoredFileException($"No file at '{path}'.")
{
    /// <summary>The path that holds no file.</summary>
    public RegistryPath Path { get; } = path;
}

/// <summary>The file is still being written (<c>getOk</c> is not 1).</summary>
public sealed class StoredFileIncompleteException(RegistryPath path) : StoredFileException($"The file at '{path}' is not completely written.")
{
    /// <summary>The incomplete file.</summary>
    public RegistryPath Path { get; } = path;
}
