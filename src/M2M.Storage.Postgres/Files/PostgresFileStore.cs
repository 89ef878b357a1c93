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
public sealed class PostgresFileStore(PostgresRegistry registry) : RegistryFileStore(registry)
{
    protected override async ValueTask ResetAsync(RegistryPath path, IReadOnlyDictionary<string, string> metadata, CancellationToken cancellationToken)
    {
        // The values of an empty, incomplete file and the removal of the old blocks: one transaction.
        var batch = new RegistryBatch();
        foreach (var (name, value) in metadata)
        {
            batch.SetValue(path, name, value);
        }
        await registry.InTransactionAsync(async (connection, transaction, ct) =>
        {
            await registry.WriteInTransactionAsync(connection, transaction, batch, ct).ConfigureAwait(false);
            await using var clear = new NpgsqlCommand($"DELETE FROM {registry.Store.Blocks} WHERE path = $1", connection, transaction);
            clear.Parameters.Add(PostgresRegistry.Text(path.Value));
            await clear.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
    }

    protected override Stream OpenBlocks(RegistryPath path, int blockSize, long size, bool writable) =>
        new PostgresFileStream(registry.Store, path, blockSize, size, writable);
}
