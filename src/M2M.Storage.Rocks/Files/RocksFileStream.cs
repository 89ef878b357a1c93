using System.Globalization;
using M2M.Storage.Files;
using M2M.Storage.Registry;
using M2M.Storage.Rocks.Registry;
using RocksDbSharp;

namespace M2M.Storage.Rocks.Files;

/// <summary>
/// A seekable stream over the blocks of a file node. Holds exactly one block in memory: the block
/// under the position, written back (with <c>fsize</c>) when the position leaves it, on
/// <see cref="Flush"/> and on dispose. Blocks that were never written read as zeros. Disposing a
/// writable stream marks the file complete (<c>getOk=1</c>). Not thread-safe, like every stream.
/// </summary>
internal sealed class RocksFileStream : Stream
{
    private readonly RocksDb _db;
    private readonly ColumnFamilyHandle _registry;
    private readonly ColumnFamilyHandle _blocks;
    private readonly WriteOptions _writeOptions;
    private readonly RegistryPath _path;
    private readonly int _blockSize;
    private readonly bool _writable;
    private readonly byte[] _blockEnd;
    private byte[]? _buffer;
    private long _bufferIndex = -1;
    private int _bufferLength;
    private bool _dirty;
    private bool _lengthDirty;
    private long _length;
    private long _position;
    private bool _disposed;

    public RocksFileStream(RocksStore store, RegistryPath path, int blockSize, long length, bool writable)
    {
        _db = store.Db;
        _registry = store.Family(RocksStore.Families.Registry);
        _blocks = store.Family(RocksStore.Families.Blocks);
        _writeOptions = store.WriteOptions;
        _path = path;
        _blockSize = blockSize;
        _length = length;
        _writable = writable;
        _blockEnd = RegistryKeys.BlockPrefix(path);
        _blockEnd[^1] = 1;
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
        return Read(buffer.AsSpan(offset, count));
    }

    public override int Read(Span<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var total = 0;
        while (buffer.Length > 0 && _position < _length)
        {
            var index = _position / _blockSize;
            var offset = (int)(_position % _blockSize);
            var available = (int)Math.Min(_blockSize - offset, _length - _position);
            var n = Math.Min(available, buffer.Length);
            Load(index);
            _buffer.AsSpan(offset, n).CopyTo(buffer);
            buffer = buffer[n..];
            _position += n;
            total += n;
        }
        return total;
    }

    public override int ReadByte()
    {
        Span<byte> one = stackalloc byte[1];
        return Read(one) == 1 ? one[0] : -1;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        ValidateBufferArguments(buffer, offset, count);
        return ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(Read(buffer.Span));
    }

    public override void Write(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        Write(buffer.AsSpan(offset, count));
    }

    public override void Write(ReadOnlySpan<byte> buffer)
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
            Load(index, skipRead: offset == 0 && (n == _blockSize || _position + n >= _length));
            buffer[..n].CopyTo(_buffer.AsSpan(offset));
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

    public override void WriteByte(byte value) => Write([value]);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        ValidateBufferArguments(buffer, offset, count);
        return WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Write(buffer.Span);
        return ValueTask.CompletedTask;
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
    public override void SetLength(long value)
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
            Flush();
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
            Load(keep - 1);
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
        using var batch = new WriteBatch();
        var from = RegistryKeys.Block(_path, keep);
        batch.DeleteRange(from, (ulong)from.Length, _blockEnd, (ulong)_blockEnd.Length, _blocks);
        AddPending(batch);
        _db.Write(batch, _writeOptions);
    }

    public override void Flush()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_dirty && !_lengthDirty)
        {
            return;
        }
        using var batch = new WriteBatch();
        AddPending(batch);
        _db.Write(batch, _writeOptions);
    }

    public override Task FlushAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Flush();
        return Task.CompletedTask;
    }

    /// <summary>Adds the dirty block and the size to <paramref name="batch"/> (they are written together).</summary>
    private void AddPending(WriteBatch batch)
    {
        if (_dirty && _bufferIndex >= 0)
        {
            var stored = (int)Math.Min(_bufferLength, _length - _bufferIndex * _blockSize);
            if (stored > 0)
            {
                batch.Put(RegistryKeys.Block(_path, _bufferIndex), _buffer.AsSpan(0, stored), _blocks);
            }
            else
            {
                batch.Delete(RegistryKeys.Block(_path, _bufferIndex), _blocks);
            }
        }
        if (_lengthDirty || _dirty)
        {
            batch.Put(RegistryKeys.Value(_path, FileValues.Size), RegistryKeys.EncodeValue(_length.ToString(CultureInfo.InvariantCulture), 0), _registry);
        }
        _dirty = false;
        _lengthDirty = false;
    }

    private void Load(long index, bool skipRead = false)
    {
        if (index == _bufferIndex)
        {
            return;
        }
        if (_dirty)
        {
            Flush();
        }
        _buffer ??= new byte[_blockSize];
        var read = 0L;
        if (!skipRead)
        {
            var key = RegistryKeys.Block(_path, index);
            read = _db.Get(key, key.Length, _buffer, 0, _blockSize, _blocks);
            if (read < 0)
            {
                read = 0;
            }
            else if (read > _blockSize)
            {
                throw new StoredFileException($"Block {index} of '{_path}' is larger than the block size {_blockSize}.");
            }
        }
        Array.Clear(_buffer, (int)read, _blockSize - (int)read);
        _bufferIndex = index;
        _bufferLength = (int)read;
        _dirty = false;
    }

    protected override void Dispose(bool disposing)
    {
        if (!_disposed && disposing)
        {
            if (_writable)
            {
                using var batch = new WriteBatch();
                AddPending(batch);
                batch.Put(RegistryKeys.Value(_path, FileValues.Size), RegistryKeys.EncodeValue(_length.ToString(CultureInfo.InvariantCulture), 0), _registry);
                batch.Put(RegistryKeys.Value(_path, FileValues.Complete), RegistryKeys.EncodeValue("1", 0), _registry);
                _db.Write(batch, _writeOptions);
            }
            _buffer = null;
            _disposed = true;
        }
        base.Dispose(disposing);
    }

    public override ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }
}
