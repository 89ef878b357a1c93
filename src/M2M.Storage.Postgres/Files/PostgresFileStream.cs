using System.Data;
using System.Globalization;
using M2M.Storage.Files;
using M2M.Storage.Postgres.Registry;
using M2M.Storage.Registry;
using Npgsql;
using NpgsqlTypes;

namespace M2M.Storage.Postgres.Files;

/// <summary>
/// A seekable stream over the <c>registry_block</c> rows of a file node. Holds exactly one block in
/// memory: the block under the position, written back (with <c>fsize</c>, in one transaction) when the
/// position leaves it, on <see cref="Flush"/> and on dispose. Blocks never written read as zeros.
/// Disposing a writable stream marks the file complete (<c>getOk=1</c>). The asynchronous members talk to
/// the database asynchronously; the synchronous ones (<see cref="Stream"/>'s contract) wait for them.
/// Not thread-safe, like every stream.
/// </summary>
internal sealed class PostgresFileStream : Stream
{
    private readonly NpgsqlDataSource _db;
    private readonly string _readBlock;
    private readonly string _upsertBlock;
    private readonly string _deleteBlock;
    private readonly string _deleteBlocksFrom;
    private readonly string _upsertValue;
    private readonly RegistryPath _path;
    private readonly int _blockSize;
    private readonly bool _writable;
    private byte[]? _buffer;
    private long _bufferIndex = -1;
    private int _bufferLength;
    private bool _dirty;
    private bool _lengthDirty;
    private long _length;
    private long _position;
    private bool _disposed;

    public PostgresFileStream(PostgresStore store, RegistryPath path, int blockSize, long length, bool writable)
    {
        _db = store.DataSource;
        _readBlock = $"SELECT data FROM {store.Blocks} WHERE path = $1 AND block = $2";
        _upsertBlock = $"INSERT INTO {store.Blocks} (path, block, data) VALUES ($1, $2, $3) ON CONFLICT (path, block) DO UPDATE SET data = EXCLUDED.data";
        _deleteBlock = $"DELETE FROM {store.Blocks} WHERE path = $1 AND block = $2";
        _deleteBlocksFrom = $"DELETE FROM {store.Blocks} WHERE path = $1 AND block >= $2";
        _upsertValue = $"INSERT INTO {store.Values} (path, name, value, expires_at) VALUES ($1, $2, $3, 0) ON CONFLICT (path, name) DO UPDATE SET value = EXCLUDED.value, expires_at = 0";
        _path = path;
        _blockSize = blockSize;
        _length = length;
        _writable = writable;
    }

    public override bool CanRead => !_disposed;

    public override bool CanSeek => !_disposed;

    public override bool CanWrite => !_disposed && _writable;

    public override long Length
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _length;
        }
    }

    public override long Position
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _position;
        }
        set
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            _position = value;
        }
    }

    public override int Read(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        return ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
    }

    public override int Read(Span<byte> buffer)
    {
        var copy = new byte[buffer.Length];
        var n = ReadAsync(copy).AsTask().GetAwaiter().GetResult();
        copy.AsSpan(0, n).CopyTo(buffer);
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        ValidateBufferArguments(buffer, offset, count);
        return ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var total = 0;
        while (buffer.Length > 0 && _position < _length)
        {
            var index = _position / _blockSize;
            var offset = (int)(_position % _blockSize);
            var n = (int)Math.Min(Math.Min(_blockSize - offset, _length - _position), buffer.Length);
            await LoadAsync(index, skipRead: false, cancellationToken).ConfigureAwait(false);
            _buffer.AsMemory(offset, n).CopyTo(buffer);
            buffer = buffer[n..];
            _position += n;
            total += n;
        }
        return total;
    }

    public override void Write(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
    }

    public override void Write(ReadOnlySpan<byte> buffer) => WriteAsync(buffer.ToArray()).AsTask().GetAwaiter().GetResult();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        ValidateBufferArguments(buffer, offset, count);
        return WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_writable)
        {
            throw new NotSupportedException("The file was opened for reading.");
        }
        while (buffer.Length > 0)
        {
            var index = _position / _blockSize;
            var offset = (int)(_position % _blockSize);
            var n = Math.Min(_blockSize - offset, buffer.Length);
            // A write that covers the whole stored part of a block does not need to read it first.
            await LoadAsync(index, skipRead: offset == 0 && (n == _blockSize || _position + n >= _length), cancellationToken).ConfigureAwait(false);
            buffer[..n].CopyTo(_buffer.AsMemory(offset));
            _bufferLength = Math.Max(_bufferLength, offset + n);
            _dirty = true;
            buffer = buffer[n..];
            _position += n;
            if (_position > _length)
            {
                _length = _position;
                _lengthDirty = true;
            }
        }
    }

    public override long Seek(long offset, SeekOrigin origin)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var target = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            SeekOrigin.End => _length + offset,
            _ => throw new ArgumentOutOfRangeException(nameof(origin)),
        };
        if (target < 0)
        {
            throw new IOException("An attempt was made to move the position before the beginning of the file.");
        }
        _position = target;
        return _position;
    }

    /// <summary>Truncates or extends the file; like <see cref="MemoryStream"/>, a position past the new end moves to the end.</summary>
    public override void SetLength(long value) => SetLengthAsync(value).AsTask().GetAwaiter().GetResult();

    private async ValueTask SetLengthAsync(long value)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegative(value);
        if (!_writable)
        {
            throw new NotSupportedException("The file was opened for reading.");
        }
        if (value >= _length)
        {
            // Growing: the new bytes read as zeros (missing blocks, or the zeroed tail of the last block).
            _length = value;
            _lengthDirty = true;
            _position = Math.Min(_position, value);
            await FlushAsync(CancellationToken.None).ConfigureAwait(false);
            return;
        }

        var keep = value == 0 ? 0 : (value - 1) / _blockSize + 1; // blocks 0..keep-1 stay
        var tail = (int)(value % _blockSize);
        if (_bufferIndex >= keep)
        {
            _bufferIndex = -1;
            _dirty = false;
        }
        if (tail != 0)
        {
            await LoadAsync(keep - 1, skipRead: false, CancellationToken.None).ConfigureAwait(false);
            if (_bufferLength > tail)
            {
                Array.Clear(_buffer!, tail, _bufferLength - tail);
                _bufferLength = tail;
                _dirty = true;
            }
        }
        _length = value;
        _lengthDirty = true;
        _position = Math.Min(_position, value);
        await using var batch = new NpgsqlBatch();
        var drop = new NpgsqlBatchCommand(_deleteBlocksFrom);
        drop.Parameters.Add(PostgresRegistry.Text(_path.Value));
        drop.Parameters.Add(PostgresRegistry.Bigint(keep));
        batch.BatchCommands.Add(drop);
        await WritePendingAsync(batch, complete: false, CancellationToken.None).ConfigureAwait(false);
    }

    public override void Flush() => FlushAsync(CancellationToken.None).GetAwaiter().GetResult();

    public override async Task FlushAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_dirty || _lengthDirty)
        {
            await using var batch = new NpgsqlBatch();
            await WritePendingAsync(batch, complete: false, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Adds the dirty block and the size (and <c>getOk=1</c> when <paramref name="complete"/>) to
    /// <paramref name="batch"/> and runs it: one implicit transaction, so block and size change together.
    /// </summary>
    private async ValueTask WritePendingAsync(NpgsqlBatch batch, bool complete, CancellationToken cancellationToken)
    {
        if (_dirty && _bufferIndex >= 0)
        {
            var stored = (int)Math.Min(_bufferLength, _length - _bufferIndex * _blockSize);
            var block = new NpgsqlBatchCommand(stored > 0 ? _upsertBlock : _deleteBlock);
            block.Parameters.Add(PostgresRegistry.Text(_path.Value));
            block.Parameters.Add(PostgresRegistry.Bigint(_bufferIndex));
            if (stored > 0)
            {
                block.Parameters.Add(new NpgsqlParameter<ReadOnlyMemory<byte>> { TypedValue = _buffer.AsMemory(0, stored), NpgsqlDbType = NpgsqlDbType.Bytea });
            }
            batch.BatchCommands.Add(block);
        }
        batch.BatchCommands.Add(Value(FileValues.Size, _length.ToString(CultureInfo.InvariantCulture)));
        if (complete)
        {
            batch.BatchCommands.Add(Value(FileValues.Complete, "1"));
        }
        await using var connection = await _db.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        batch.Connection = connection;
        await batch.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        _dirty = false;
        _lengthDirty = false;
    }

    private NpgsqlBatchCommand Value(string name, string value)
    {
        var command = new NpgsqlBatchCommand(_upsertValue);
        command.Parameters.Add(PostgresRegistry.Text(_path.Value));
        command.Parameters.Add(PostgresRegistry.Text(name));
        command.Parameters.Add(PostgresRegistry.Utf8(value));
        return command;
    }

    private async ValueTask LoadAsync(long index, bool skipRead, CancellationToken cancellationToken)
    {
        if (index == _bufferIndex)
        {
            return;
        }
        if (_dirty)
        {
            await FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        _buffer ??= new byte[_blockSize];
        var read = 0;
        if (!skipRead)
        {
            await using var command = _db.CreateCommand(_readBlock);
            command.Parameters.Add(PostgresRegistry.Text(_path.Value));
            command.Parameters.Add(PostgresRegistry.Bigint(index));
            await using var reader = await command.ExecuteReaderAsync(CommandBehavior.SequentialAccess, cancellationToken).ConfigureAwait(false);
            if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                // Straight into the block buffer: the block is never held twice.
                await using var data = await reader.GetStreamAsync(0, cancellationToken).ConfigureAwait(false);
                while (read < _blockSize)
                {
                    var n = await data.ReadAsync(_buffer.AsMemory(read), cancellationToken).ConfigureAwait(false);
                    if (n == 0)
                    {
                        break;
                    }
                    read += n;
                }
                if (read == _blockSize && data.ReadByte() >= 0)
                {
                    throw new StoredFileException($"Block {index} of '{_path}' is larger than the block size {_blockSize}.");
                }
            }
        }
        Array.Clear(_buffer, read, _blockSize - read);
        _bufferIndex = index;
        _bufferLength = read;
        _dirty = false;
    }

    protected override void Dispose(bool disposing)
    {
        if (!_disposed && disposing)
        {
            DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }
        if (_writable)
        {
            await using var batch = new NpgsqlBatch();
            await WritePendingAsync(batch, complete: true, CancellationToken.None).ConfigureAwait(false);
        }
        _buffer = null;
        _disposed = true;
        GC.SuppressFinalize(this);
    }
}
