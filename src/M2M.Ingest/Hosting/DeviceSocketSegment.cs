using System.Buffers;

namespace M2M.Ingest.Hosting;

/// <summary>
/// One buffer of a <see cref="DeviceSocketReader"/> or <see cref="DeviceSocketWriter"/>: a block rented
/// from the memory pool (or from the array pool, for a write larger than a pool block and in place of
/// <see cref="MemoryPool{T}.Shared"/>, which allocates a wrapper per rent), its bytes
/// <c>[0, Length)</c> written, the rest free. The segment objects are kept in a small per-thread cache
/// while no connection holds them, so that neither an idle connection nor a read costs one.
/// </summary>
internal sealed class DeviceSocketSegment : ReadOnlySequenceSegment<byte>
{
    private const int CacheSize = 16;

    [ThreadStatic]
    private static DeviceSocketSegment?[]? t_cache;
    [ThreadStatic]
    private static int t_cached;

    private IMemoryOwner<byte>? _owner;
    private byte[]? _array;
    private Memory<byte> _block;

    /// <summary>The bytes written.</summary>
    public int Length => Memory.Length;

    /// <summary>The room left.</summary>
    public int Free => _block.Length - Memory.Length;

    public Memory<byte> FreeMemory => _block[Memory.Length..];

    public DeviceSocketSegment? NextSegment
    {
        get => (DeviceSocketSegment?)Next;
        set => Next = value;
    }

    /// <summary>A segment with a block of at least <paramref name="size"/> bytes (or the pool's block when 0), its first byte at <paramref name="runningIndex"/> of the stream.</summary>
    public static DeviceSocketSegment Rent(MemoryPool<byte> pool, int size, long runningIndex)
    {
        var segment = FromCache() ?? new DeviceSocketSegment();
        if (size > pool.MaxBufferSize || pool == MemoryPool<byte>.Shared)
        {
            // Larger than the pool hands out (one big answer): an array for the time it takes to send it.
            // From the shared pool too: it would wrap the same array in a new object at every rent.
            segment._array = ArrayPool<byte>.Shared.Rent(size <= 0 ? 4096 : size);
            segment._block = segment._array;
        }
        else
        {
            segment._owner = pool.Rent(size <= 0 ? -1 : size);
            segment._block = segment._owner.Memory;
        }
        segment.Memory = segment._block[..0];
        segment.RunningIndex = runningIndex;
        return segment;
    }

    /// <summary>Counts <paramref name="count"/> more bytes of the free room as written.</summary>
    public void Commit(int count) => Memory = _block[..(Memory.Length + count)];

    /// <summary>Gives the block back and keeps the segment object for the next one (the caller drops its references).</summary>
    public void Release()
    {
        _owner?.Dispose();
        if (_array is not null)
        {
            ArrayPool<byte>.Shared.Return(_array);
        }
        _owner = null;
        _array = null;
        _block = default;
        Memory = default;
        Next = null;
        RunningIndex = 0;
        var cache = t_cache ??= new DeviceSocketSegment?[CacheSize];
        if (t_cached < cache.Length)
        {
            cache[t_cached++] = this;
        }
    }

    /// <summary>Releases <paramref name="head"/> and every segment after it.</summary>
    public static void ReleaseChain(DeviceSocketSegment? head)
    {
        while (head is not null)
        {
            var next = head.NextSegment;
            head.Release();
            head = next;
        }
    }

    private static DeviceSocketSegment? FromCache()
    {
        if (t_cached == 0)
        {
            return null;
        }
        var cache = t_cache!;
        var segment = cache[--t_cached];
        cache[t_cached] = null;
        return segment;
    }
}
