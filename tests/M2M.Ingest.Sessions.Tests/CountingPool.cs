using System.Buffers;

namespace M2M.Ingest.Sessions.Tests;

/// <summary>A pool that counts the blocks rented and not yet returned.</summary>
internal sealed class CountingPool : MemoryPool<byte>
{
    private int _outstanding;

    public int Outstanding => Volatile.Read(ref _outstanding);

    public override int MaxBufferSize => 4096;

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        Interlocked.Increment(ref _outstanding);
        return new Block(this, new byte[minBufferSize <= 0 ? 4096 : Math.Max(4096, minBufferSize)]);
    }

    protected override void Dispose(bool disposing)
    {
    }

    private sealed class Block(CountingPool pool, byte[] array) : IMemoryOwner<byte>
    {
        private int _disposed;

        public Memory<byte> Memory => array;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                Interlocked.Decrement(ref pool._outstanding);
            }
        }
    }
}
