namespace M2M.Storage.Backup;

/// <summary>
/// A consistent backup of a running node's storage, as an archive (<see cref="BackupArchive"/>).
/// Embedded backends implement it; a shared database server (PostgreSQL) is backed up with its own
/// tools instead (<c>pg_dump</c>, base backups with WAL archiving), and registers none.
/// </summary>
public interface IStorageBackup
{
    /// <summary>The backend named in the archive's manifest (<c>rocks</c>).</summary>
    string Backend { get; }

    /// <summary>
    /// Writes a gzip-compressed tar archive of a consistent snapshot of the database, taken when the
    /// call starts (everything committed before it is in it), and of the data directory's files
    /// (keys). Writes go on while it runs.
    /// </summary>
    Task WriteArchiveAsync(Stream output, CancellationToken cancellationToken = default);
}
