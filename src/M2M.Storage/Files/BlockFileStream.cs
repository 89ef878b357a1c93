using M2M.Storage.Registry;

namespace M2M.Storage.Files;

/// <summary>
/// A seekable stream over the fixed-size blocks of a file node, whatever stores them. Holds exactly
/// one block in memory: the block under the position, written back (with <c>fsize</c>, in one atomic
/// write) when the position leaves it, on <see cref="Flush"/> and on dispose. Blocks never written read
/// as zeros. Disposing a writable stream marks the file complete (<c>getOk=1</c>). Not thread-safe, like
/// every stream.
/// </summary>
/// <remarks>
/// A backend supplies two operations: <see cref="ReadBlockAsync"/> and <see cref="WriteAsync(BlockWrite, CancellationToken)"/>.
/// A backend whose operations complete synchronously (RocksDB) pays nothing for the asynchronous
/// form; the synchronous members of <see cref="Stream"/> wait for an asynchronous backend (PostgreSQL).
/// </remarks>
public abstract class BlockFileStream : Stream
{
    private readonly bool _writable;
    private byte[]? _buffer;
    private long _bufferIndex = -1;
    private int _bufferLength;
    private bool _dirty;
    private bool _lengthDirty;
    private long _length;
    private long _position;
    private bool _disposed;

    protected BlockFileStream(RegistryPath path, int blockSize, long length, bool writable)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blockSize);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        Path = path;
        BlockSize = blockSize;
        _length = length;
        _writable = writable;
    }

    /// <summary>The file node.</summary>
    protected RegistryPath Path { get; }

    /// <summary>Bytes per block.</summary>
    protected int BlockSize { get; }

    /// <summary>
    /// Reads block <paramref name="index"/> into <paramref name="buffer"/> (<see cref="BlockSize"/> bytes);
    /// returns how many bytes are stored (0 for a missing block). A stored block larger than
    /// <see cref="BlockSize"/> is a <see cref="StoredFileException"/>.
    /// </summary>
    protected abstract ValueTask<int> ReadBlockAsync(long index, byte[] buffer, CancellationToken cancellationToken);

    /// <summary>Writes <paramref name="write"/> atomically: its block, size, truncation and completion together.</summary>
    protected abstract ValueTask WriteAsync(BlockWrite write, CancellationToken cancellationToken);

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
            var (index, offset, n) = NextRead(buffer.Length);
            Wait(LoadAsync(index, skipRead: false, CancellationToken.None));
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

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        cancellationToken.ThrowIfCancellationRequested();
        var total = 0;
        while (buffer.Length > 0 && _position < _length)
        {
            var (index, offset, n) = NextRead(buffer.Length);
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
        Write(buffer.AsSpan(offset, count));
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        CheckWritable();
        while (buffer.Length > 0)
        {
            var (index, offset, n, skipRead) = NextWrite(buffer.Length);
            Wait(LoadAsync(index, skipRead, CancellationToken.None));
            buffer[..n].CopyTo(_buffer.AsSpan(offset));
            Written(offset, n);
            buffer = buffer[n..];
        }
    }

    public override void WriteByte(byte value) => Write([value]);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        ValidateBufferArguments(buffer, offset, count);
        return WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        CheckWritable();
        cancellationToken.ThrowIfCancellationRequested();
        while (buffer.Length > 0)
        {
            var (index, offset, n, skipRead) = NextWrite(buffer.Length);
            await LoadAsync(index, skipRead, cancellationToken).ConfigureAwait(false);
            buffer[..n].CopyTo(_buffer.AsMemory(offset));
            Written(offset, n);
            buffer = buffer[n..];
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
    public override void SetLength(long value) => Wait(SetLengthAsync(value));

    private async ValueTask SetLengthAsync(long value)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(value);
        CheckWritable();
        if (value >= _length)
        {
            // Growing: the new bytes read as zeros (missing blocks, or the zeroed tail of the last block).
            _length = value;
            _lengthDirty = true;
            _position = Math.Min(_position, value);
            await FlushCoreAsync(CancellationToken.None).ConfigureAwait(false);
            return;
        }

        var keep = value == 0 ? 0 : (value - 1) / BlockSize + 1; // blocks 0..keep-1 stay
        var tail = (int)(value % BlockSize);
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
        await WritePendingAsync(truncateFrom: keep, complete: false, CancellationToken.None).ConfigureAwait(false);
    }

    public override void Flush() => Wait(FlushCoreAsync(CancellationToken.None));

    public override Task FlushAsync(CancellationToken cancellationToken) => FlushCoreAsync(cancellationToken).AsTask();

    private ValueTask FlushCoreAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _dirty || _lengthDirty ? WritePendingAsync(truncateFrom: -1, complete: false, cancellationToken) : ValueTask.CompletedTask;
    }

    protected override void Dispose(bool disposing)
    {
        if (!_disposed && disposing)
        {
            Wait(DisposeAsync());
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
            await WritePendingAsync(truncateFrom: -1, complete: true, CancellationToken.None).ConfigureAwait(false);
        }
        _buffer = null;
        _disposed = true;
        GC.SuppressFinalize(this);
    }

    /// <summary>The block under the position, the offset in it and how many bytes of it to read.</summary>
    private (long Index, int Offset, int Count) NextRead(int wanted)
    {
        var offset = (int)(_position % BlockSize);
        return (_position / BlockSize, offset, (int)Math.Min(Math.Min(BlockSize - offset, _length - _position), wanted));
    }

    /// <summary>The same for a write, and whether it covers the whole stored part of the block (no need to read it first).</summary>
    private (long Index, int Offset, int Count, bool SkipRead) NextWrite(int wanted)
    {
        var offset = (int)(_position % BlockSize);
        var n = Math.Min(BlockSize - offset, wanted);
        return (_position / BlockSize, offset, n, offset == 0 && (n == BlockSize || _position + n >= _length));
    }

    private void Written(int offset, int count)
    {
        _bufferLength = Math.Max(_bufferLength, offset + count);
        _dirty = true;
        _position += count;
        if (_position > _length)
        {
            _length = _position;
            _lengthDirty = true;
        }
    }

    private void CheckWritable()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_writable)
        {
            throw new NotSupportedException("The file was opened for reading.");
        }
    }

    /// <summary>Writes the dirty block and the size (with the truncation or completion asked) in one write.</summary>
    private async ValueTask WritePendingAsync(long truncateFrom, bool complete, CancellationToken cancellationToken)
    {
        var block = -1L;
        var data = ReadOnlyMemory<byte>.Empty;
        if (_dirty && _bufferIndex >= 0)
        {
            // Bytes past the end (after a truncation) are not stored; nothing left deletes the block.
            block = _bufferIndex;
            data = _buffer.AsMemory(0, (int)Math.Max(0, Math.Min(_bufferLength, _length - _bufferIndex * BlockSize)));
        }
        await WriteAsync(new BlockWrite(block, data, _length, truncateFrom, complete), cancellationToken).ConfigureAwait(false);
        _dirty = false;
        _lengthDirty = false;
    }

    private async ValueTask LoadAsync(long index, bool skipRead, CancellationToken cancellationToken)
    {
        if (index == _bufferIndex)
        {
            return;
        }
        if (_dirty)
        {
            await WritePendingAsync(truncateFrom: -1, complete: false, cancellationToken).ConfigureAwait(false);
        }
        _buffer ??= new byte[BlockSize];
        var read = skipRead ? 0 : await ReadBlockAsync(index, _buffer, cancellationToken).ConfigureAwait(false);
        Array.Clear(_buffer, read, BlockSize - read);
        _bufferIndex = index;
        _bufferLength = read;
        _dirty = false;
    }

    /// <summary>Waits for <paramref name="task"/> (at once when the backend completed it synchronously).</summary>
    private static void Wait(ValueTask task)
    {
        if (task.IsCompletedSuccessfully)
        {
            return;
        }
        task.AsTask().GetAwaiter().GetResult();
    }
}

/// <summary>One atomic write of a <see cref="BlockFileStream"/>.</summary>
/// <param name="Block">The block to store (-1: none).</param>
/// <param name="Data">Its bytes; empty: the block is deleted.</param>
/// <param name="Length">The file's size (<c>fsize</c>), always written.</param>
/// <param name="TruncateFrom">Blocks from this index on are deleted (-1: none).</param>
/// <param name="Complete">Marks the file complete (<c>getOk=1</c>).</param>
public readonly record struct BlockWrite(long Block, ReadOnlyMemory<byte> Data, long Length, long TruncateFrom, bool Complete);
