using M2M.Storage.Backup;
using Microsoft.Extensions.Logging;

namespace M2M.Storage.Rocks;

/// <summary>
/// Backups of the embedded database while it runs: a RocksDB checkpoint (a consistent copy made of
/// hard links to the immutable table files, plus copies of the small live files, after a flush) in a
/// staging directory inside the data directory, archived with the data directory's key files
/// (<see cref="BackupArchive"/>), then removed.
/// </summary>
/// <remarks>
/// The checkpoint holds every write committed before it was taken: a record whose delivery barrier
/// was answered before the backup started is in it. It costs a memtable flush and, while the archive
/// is written, the disk space of table files that compaction replaces meanwhile (the hard links keep
/// them). Restore: <see cref="RestoreAsync"/>, into an empty data directory of a stopped node.
/// </remarks>
public sealed class RocksBackup(RocksStore store, string dataDirectory, ILogger<RocksBackup>? logger = null) : IStorageBackup
{
    /// <summary>Name prefix of the staging directories (skipped by backups, removed when done).</summary>
    public const string StagingPrefix = ".backup-";

    public string Backend => "rocks";

    public async Task WriteArchiveAsync(Stream output, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(output);
        var root = Path.GetFullPath(dataDirectory);
        var staging = Path.Combine(root, $"{StagingPrefix}{Guid.NewGuid():N}");
        var createdAt = DateTimeOffset.UtcNow;
        try
        {
            // Same file system as the database, so the checkpoint links the table files instead of copying them.
            await Task.Run(() =>
            {
                using var checkpoint = store.Db.Checkpoint();
                checkpoint.Save(staging);
            }, cancellationToken).ConfigureAwait(false);
            logger?.LogInformation("Backup checkpoint taken in {Directory}", staging);
            var skip = new HashSet<string>(StringComparer.Ordinal) { BackupArchive.DatabaseDirectory };
            foreach (var directory in Directory.EnumerateDirectories(root))
            {
                skip.Add(Path.GetFileName(directory));
            }
            var manifest = new BackupManifest(BackupArchive.LayoutVersion, Backend, store.StoredFormatVersion, createdAt, Environment.MachineName);
            await BackupArchive.WriteAsync(output, manifest, staging, root, skip, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            try
            {
                if (Directory.Exists(staging))
                {
                    Directory.Delete(staging, recursive: true);
                }
            }
            catch (IOException e)
            {
                logger?.LogWarning(e, "Could not remove the backup staging directory {Directory}", staging);
            }
        }
    }

    /// <summary>
    /// Writes an archive of the database in <paramref name="dataDirectory"/> of a node that is not
    /// running (opens it, which RocksDB refuses while a server holds it).
    /// </summary>
    /// <exception cref="BackupException">The data directory holds no database, or it is in use.</exception>
    public static async Task BackupOfflineAsync(string dataDirectory, Stream output, CancellationToken cancellationToken = default)
    {
        var database = Path.Combine(Path.GetFullPath(dataDirectory), BackupArchive.DatabaseDirectory);
        if (!File.Exists(Path.Combine(database, "CURRENT")))
        {
            throw new BackupException($"{dataDirectory} holds no database ({database}/CURRENT is missing).");
        }
        RocksStore opened;
        try
        {
            opened = RocksStore.Open(database);
        }
        catch (RocksDbSharp.RocksDbException e) when (e.Message.Contains("lock", StringComparison.OrdinalIgnoreCase))
        {
            throw new BackupException($"The database in {dataDirectory} is in use by a running server: back it up through the server (m2m backup --server).", e);
        }
        using (opened)
        {
            await new RocksBackup(opened, dataDirectory).WriteArchiveAsync(output, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Restores an archive into <paramref name="dataDirectory"/>, which must be missing or empty, then
    /// opens the database once to check it (format version, consistency) and closes it again.
    /// </summary>
    /// <exception cref="BackupException">Not empty, not a RocksDB backup, or the restored database does not open;
    /// what the restore wrote is removed again.</exception>
    public static async Task<BackupManifest> RestoreAsync(Stream archive, string dataDirectory, CancellationToken cancellationToken = default)
    {
        var created = !Directory.Exists(dataDirectory);
        var manifest = await BackupArchive.ExtractAsync(archive, dataDirectory, cancellationToken).ConfigureAwait(false);
        try
        {
            if (manifest.Backend != "rocks")
            {
                throw new BackupException($"The backup was made by the '{manifest.Backend}' backend, not by RocksDB.");
            }
            var database = Path.Combine(Path.GetFullPath(dataDirectory), BackupArchive.DatabaseDirectory);
            if (!File.Exists(Path.Combine(database, "CURRENT")))
            {
                throw new BackupException("The backup holds no database directory.");
            }
            using var check = RocksStore.Open(database);
        }
        catch (Exception e)
        {
            // Leave the directory as it was found: a half-usable data directory must not be started.
            BackupArchive.RemoveRestored(dataDirectory, created);
            if (e is BackupException)
            {
                throw;
            }
            throw new BackupException($"The restored database does not open: {e.Message}", e);
        }
        return manifest;
    }
}
