using Microsoft.Extensions.Options;

namespace M2M.Storage;

/// <summary>Disk space rules of the storage (configuration section <c>M2M:Storage</c>).</summary>
public sealed class StorageSpaceOptions
{
    public const string Section = "M2M:Storage";

    /// <summary>
    /// Free space of the data directory that file uploads leave for records and the registry: an
    /// upload that would go below it stops with 507, so that a large file cannot fill the disk under
    /// the devices. Also the level under which the health check reports the storage degraded.
    /// </summary>
    public long ReservedFreeBytes { get; set; } = 256L << 20;

    /// <summary>How often uploads left behind by failed or killed requests are removed (also once at start).</summary>
    public TimeSpan StagedUploadSweepInterval { get; set; } = TimeSpan.FromMinutes(10);
}

/// <summary>The free space of the data directory, and the check that keeps uploads out of the reserve.</summary>
public sealed class StorageSpace(IOptions<StorageOptions> storage, IOptions<StorageSpaceOptions> options)
{
    /// <summary>Bytes kept free for records and the registry (<see cref="StorageSpaceOptions.ReservedFreeBytes"/>).</summary>
    public long ReservedBytes => options.Value.ReservedFreeBytes;

    /// <summary>Free bytes of the file system holding the data directory (for this process), or <c>null</c> when it cannot be read.</summary>
    public long? AvailableBytes()
    {
        var directory = storage.Value.FullDataDirectory;
        try
        {
            return new DriveInfo(Directory.Exists(directory) ? directory : Path.GetPathRoot(directory)!).AvailableFreeSpace;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return null;
        }
    }

    /// <summary>Throws <see cref="InsufficientStorageException"/> when writing <paramref name="bytes"/> more would leave less than the reserve free.</summary>
    public void EnsureRoomFor(long bytes)
    {
        if (AvailableBytes() is { } free && free - bytes < ReservedBytes)
        {
            throw new InsufficientStorageException(
                $"Not enough free disk space: {free} bytes free, {ReservedBytes} are kept for records (M2M:Storage:ReservedFreeBytes).");
        }
    }

    /// <summary>A read-only view of <paramref name="content"/> that checks the reserve before every mebibyte it lets through.</summary>
    public Stream Guard(Stream content) => new GuardedStream(content, this);

    private sealed class GuardedStream(Stream inner, StorageSpace space) : Stream
    {
        private const int CheckEvery = 1 << 20;
        private long _untilCheck;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            Check();
            return Counted(inner.Read(buffer));
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Check();
            return Counted(await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false));
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        private void Check()
        {
            if (_untilCheck <= 0)
            {
                space.EnsureRoomFor(CheckEvery);
                _untilCheck = CheckEvery;
            }
        }

        private int Counted(int read)
        {
            _untilCheck -= read;
            return read;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

/// <summary>A write was refused or failed for lack of disk space (HTTP 507).</summary>
public sealed class InsufficientStorageException(string message, Exception? innerException = null) : IOException(message, innerException);

/// <summary>Recognises storage failures whatever the engine reports them with.</summary>
public static class StorageErrors
{
    private const int Enospc = 28;
    private const int Edquot = 122;
    private const int WindowsDiskFull = unchecked((int)0x80070070);
    private const int WindowsHandleDiskFull = unchecked((int)0x80070027);

    /// <summary>
    /// Whether <paramref name="exception"/> (or one of its inner exceptions) says the disk is full:
    /// <see cref="InsufficientStorageException"/>, an <see cref="IOException"/> with the ENOSPC/EDQUOT or
    /// disk-full HResult, or an engine error whose message carries the system's "No space left on
    /// device" (RocksDB, PostgreSQL).
    /// </summary>
    public static bool IsOutOfSpace(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is InsufficientStorageException
                || e is IOException { HResult: Enospc or Edquot or WindowsDiskFull or WindowsHandleDiskFull }
                || e.Message.Contains("No space left on device", StringComparison.OrdinalIgnoreCase)
                || e.Message.Contains("Disk quota exceeded", StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
            if (e is AggregateException { InnerExceptions.Count: > 1 } aggregate)
            {
                return aggregate.InnerExceptions.Any(IsOutOfSpace);
            }
        }
        return false;
    }
}
