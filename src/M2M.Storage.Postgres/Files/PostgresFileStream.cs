using System.Data;
using System.Globalization;
using M2M.Storage.Files;
using M2M.Storage.Postgres.Registry;
using M2M.Storage.Registry;
using Npgsql;
using NpgsqlTypes;

namespace M2M.Storage.Postgres.Files;

/// <summary>
/// The blocks of a file node in <c>registry_block</c> rows, the size and completion marks in
/// <c>registry_value</c>: each write is one batch (one implicit transaction), so block and size change
/// together. The asynchronous members talk to the database asynchronously; the synchronous ones wait.
/// </summary>
internal sealed class PostgresFileStream : BlockFileStream
{
    private readonly NpgsqlDataSource _db;
    private readonly string _readBlock;
    private readonly string _upsertBlock;
    private readonly string _deleteBlock;
    private readonly string _deleteBlocksFrom;
    private readonly string _upsertValue;

    public PostgresFileStream(PostgresStore store, RegistryPath path, int blockSize, long length, bool writable)
        : base(path, blockSize, length, writable)
    {
        _db = store.DataSource;
        _readBlock = $"SELECT data FROM {store.Blocks} WHERE path = $1 AND block = $2";
        _upsertBlock = $"INSERT INTO {store.Blocks} (path, block, data) VALUES ($1, $2, $3) ON CONFLICT (path, block) DO UPDATE SET data = EXCLUDED.data";
        _deleteBlock = $"DELETE FROM {store.Blocks} WHERE path = $1 AND block = $2";
        _deleteBlocksFrom = $"DELETE FROM {store.Blocks} WHERE path = $1 AND block >= $2";
        _upsertValue = $"INSERT INTO {store.Values} (path, name, value, expires_at) VALUES ($1, $2, $3, 0) ON CONFLICT (path, name) DO UPDATE SET value = EXCLUDED.value, expires_at = 0";
    }

    protected override async ValueTask<int> ReadBlockAsync(long index, byte[] buffer, CancellationToken cancellationToken)
    {
        await using var command = _db.CreateCommand(_readBlock);
        command.Parameters.Add(PostgresRegistry.Text(Path.Value));
        command.Parameters.Add(PostgresRegistry.Bigint(index));
        await using var reader = await command.ExecuteReaderAsync(CommandBehavior.SequentialAccess, cancellationToken).ConfigureAwait(false);
        var read = 0;
        if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            // Straight into the block buffer: the block is never held twice.
            await using var data = await reader.GetStreamAsync(0, cancellationToken).ConfigureAwait(false);
            while (read < BlockSize)
            {
                var n = await data.ReadAsync(buffer.AsMemory(read, BlockSize - read), cancellationToken).ConfigureAwait(false);
                if (n == 0)
                {
                    break;
                }
                read += n;
            }
            if (read == BlockSize && data.ReadByte() >= 0)
            {
                throw new StoredFileException($"Block {index} of '{Path}' is larger than the block size {BlockSize}.");
            }
        }
        return read;
    }

    protected override async ValueTask WriteAsync(BlockWrite write, CancellationToken cancellationToken)
    {
        await using var batch = new NpgsqlBatch();
        if (write.TruncateFrom >= 0)
        {
            var drop = new NpgsqlBatchCommand(_deleteBlocksFrom);
            drop.Parameters.Add(PostgresRegistry.Text(Path.Value));
            drop.Parameters.Add(PostgresRegistry.Bigint(write.TruncateFrom));
            batch.BatchCommands.Add(drop);
        }
        if (write.Block >= 0)
        {
            var block = new NpgsqlBatchCommand(write.Data.IsEmpty ? _deleteBlock : _upsertBlock);
            block.Parameters.Add(PostgresRegistry.Text(Path.Value));
            block.Parameters.Add(PostgresRegistry.Bigint(write.Block));
            if (!write.Data.IsEmpty)
            {
                block.Parameters.Add(new NpgsqlParameter<ReadOnlyMemory<byte>> { TypedValue = write.Data, NpgsqlDbType = NpgsqlDbType.Bytea });
            }
            batch.BatchCommands.Add(block);
        }
        batch.BatchCommands.Add(Value(FileValues.Size, write.Length.ToString(CultureInfo.InvariantCulture)));
        if (write.Complete)
        {
            batch.BatchCommands.Add(Value(FileValues.Complete, "1"));
        }
        await using var connection = await _db.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        batch.Connection = connection;
        await batch.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private NpgsqlBatchCommand Value(string name, string value)
    {
        var command = new NpgsqlBatchCommand(_upsertValue);
        command.Parameters.Add(PostgresRegistry.Text(Path.Value));
        command.Parameters.Add(PostgresRegistry.Text(name));
        command.Parameters.Add(PostgresRegistry.Utf8(value));
        return command;
    }
}
