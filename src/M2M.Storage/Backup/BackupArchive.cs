using System.Formats.Tar;
using System.IO.Compression;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace M2M.Storage.Backup;

/// <summary>
/// The backup archive, the same for every embedded backend: a gzip-compressed POSIX (pax) tar whose
/// first entry is the manifest <see cref="ManifestName"/>, then the database directory under
/// <see cref="DatabaseDirectory"/><c>/</c> and the data directory's top-level files (signing and
/// forwarding keys) at the root. Restoring it into an empty data directory gives back the node as it
/// was when the backup started.
/// </summary>
public static class BackupArchive
{
    /// <summary>The manifest entry, first in the archive.</summary>
    public const string ManifestName = "m2m-backup.json";

    /// <summary>The database directory, inside the archive and inside a data directory.</summary>
    public const string DatabaseDirectory = "db";

    /// <summary>Version of this archive layout.</summary>
    public const int LayoutVersion = 1;

    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true };

    /// <summary>
    /// Writes an archive of <paramref name="databaseDirectory"/> (a consistent copy made by the backend)
    /// and the top-level files of <paramref name="dataDirectory"/> except the names in
    /// <paramref name="skip"/> (the live database, staging directories).
    /// </summary>
    public static async Task WriteAsync(Stream output, BackupManifest manifest, string databaseDirectory, string dataDirectory, IReadOnlySet<string> skip, CancellationToken cancellationToken)
    {
        await using var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true);
        await using (var tar = new TarWriter(gzip, TarEntryFormat.Pax, leaveOpen: true))
        {
            var manifestBytes = JsonSerializer.SerializeToUtf8Bytes(manifest, Json);
            var entry = new PaxTarEntry(TarEntryType.RegularFile, ManifestName) { DataStream = new MemoryStream(manifestBytes), ModificationTime = manifest.CreatedAt };
            await tar.WriteEntryAsync(entry, cancellationToken).ConfigureAwait(false);

            foreach (var file in Directory.EnumerateFiles(databaseDirectory, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            {
                var relative = Path.GetRelativePath(databaseDirectory, file).Replace('\\', '/');
                await tar.WriteEntryAsync(file, $"{DatabaseDirectory}/{relative}", cancellationToken).ConfigureAwait(false);
            }
            if (Directory.Exists(dataDirectory))
            {
                foreach (var file in Directory.EnumerateFiles(dataDirectory).Order(StringComparer.Ordinal))
                {
                    var name = Path.GetFileName(file);
                    if (!skip.Contains(name) && name != ManifestName)
                    {
                        await tar.WriteEntryAsync(file, name, cancellationToken).ConfigureAwait(false);
                    }
                }
            }
        }
        await gzip.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Extracts an archive into <paramref name="dataDirectory"/>, which must be missing or empty (a
    /// restore never overwrites data). Only regular files and directories below it are written; the
    /// first entry must be the manifest. On any failure what was extracted is removed again.
    /// </summary>
    /// <returns>The archive's manifest.</returns>
    /// <exception cref="BackupException">The directory is not empty, or the archive is not a backup.</exception>
    public static async Task<BackupManifest> ExtractAsync(Stream archive, string dataDirectory, CancellationToken cancellationToken)
    {
        var root = Path.GetFullPath(dataDirectory);
        if (Directory.Exists(root) && Directory.EnumerateFileSystemEntries(root).Any())
        {
            throw new BackupException($"{root} is not empty: a restore only writes into an empty or missing data directory (it never overwrites data, live or not).");
        }
        var created = !Directory.Exists(root);
        Directory.CreateDirectory(root);
        try
        {
            await using var gzip = new GZipStream(archive, CompressionMode.Decompress, leaveOpen: true);
            await using var tar = new TarReader(gzip, leaveOpen: true);
            BackupManifest? manifest = null;
            while (await tar.GetNextEntryAsync(copyData: false, cancellationToken).ConfigureAwait(false) is { } entry)
            {
                if (manifest is null)
                {
                    if (entry.Name != ManifestName || entry.DataStream is null)
                    {
                        throw new BackupException($"Not an M2M backup: its first entry is '{entry.Name}', not {ManifestName}.");
                    }
                    manifest = await JsonSerializer.DeserializeAsync<BackupManifest>(entry.DataStream, Json, cancellationToken).ConfigureAwait(false)
                        ?? throw new BackupException("The backup manifest is empty.");
                    if (manifest.Layout != LayoutVersion)
                    {
                        throw new BackupException($"The backup has layout {manifest.Layout}; this build reads layout {LayoutVersion}.");
                    }
                    continue;
                }
                var target = Path.GetFullPath(Path.Combine(root, entry.Name));
                if (!target.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                {
                    throw new BackupException($"The archive entry '{entry.Name}' points outside the data directory.");
                }
                switch (entry.EntryType)
                {
                    case TarEntryType.Directory:
                        Directory.CreateDirectory(target);
                        break;
                    case TarEntryType.RegularFile or TarEntryType.V7RegularFile:
                        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                        await using (var file = new FileStream(target, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
                        {
                            if (entry.DataStream is not null)
                            {
                                await entry.DataStream.CopyToAsync(file, cancellationToken).ConfigureAwait(false);
                            }
                            await file.FlushAsync(cancellationToken).ConfigureAwait(false);
                            file.Flush(flushToDisk: true);
                        }
                        if (!OperatingSystem.IsWindows() && Path.GetDirectoryName(target) == root)
                        {
                            // Top-level files are keys: readable by the owner only.
                            File.SetUnixFileMode(target, UnixFileMode.UserRead | UnixFileMode.UserWrite);
                        }
                        break;
                    default:
                        throw new BackupException($"The archive entry '{entry.Name}' is a {entry.EntryType}; a backup holds only files and directories.");
                }
            }
            return manifest ?? throw new BackupException("The archive is empty.");
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or FormatException or JsonException)
        {
            Clean(root, created);
            throw new BackupException($"The archive is damaged or not a backup: {e.Message}", e);
        }
        catch
        {
            Clean(root, created);
            throw;
        }
    }

    /// <summary>
    /// Removes what a restore wrote into <paramref name="dataDirectory"/>: the directory itself when the
    /// restore created it, else its contents (it was empty before: <see cref="ExtractAsync"/> checks).
    /// For a backend whose check of the extracted database fails after <see cref="ExtractAsync"/>.
    /// </summary>
    public static void RemoveRestored(string dataDirectory, bool created) => Clean(Path.GetFullPath(dataDirectory), created);

    private static void Clean(string root, bool created)
    {
        try
        {
            if (created)
            {
                Directory.Delete(root, recursive: true);
            }
            else
            {
                foreach (var entry in Directory.EnumerateFileSystemEntries(root))
                {
                    if (Directory.Exists(entry))
                    {
                        Directory.Delete(entry, recursive: true);
                    }
                    else
                    {
                        File.Delete(entry);
                    }
                }
            }
        }
        catch (IOException)
        {
            // Best effort: the error that stopped the restore is the one to report.
        }
    }
}

/// <summary>The first entry of a backup archive.</summary>
/// <param name="Layout">Archive layout (<see cref="BackupArchive.LayoutVersion"/>).</param>
/// <param name="Backend">Storage backend that wrote it (<c>rocks</c>).</param>
/// <param name="StorageFormat">The backend's storage format version at the time.</param>
/// <param name="CreatedAt">When the snapshot was taken.</param>
/// <param name="Host">The machine that made it.</param>
public sealed record BackupManifest(
    int Layout,
    string Backend,
    int StorageFormat,
    DateTimeOffset CreatedAt,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Host = null);

/// <summary>A backup or restore that cannot be done; the message says why.</summary>
public sealed class BackupException(string message, Exception? inner = null) : Exception(message, inner);
