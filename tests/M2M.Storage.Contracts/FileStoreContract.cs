using System.Security.Cryptography;
using M2M.Storage.Files;
using M2M.Storage.Registry;

namespace M2M.Storage.Contracts;

/// <summary>The behaviour every <see cref="IFileStore"/> backend must have.</summary>
public abstract class FileStoreContract : IDisposable
{
    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    protected abstract IFileStore Files { get; }

    protected abstract IRegistry Registry { get; }

    public abstract void Dispose();

    private static RegistryPath P(string path) => RegistryPath.Parse(path);

    private static byte[] Bytes(int count, int seed)
    {
        var bytes = new byte[count];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private async Task<byte[]> ReadAllAsync(RegistryPath path)
    {
        await using var stream = await Files.OpenReadAsync(path, Ct);
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy, Ct);
        return copy.ToArray();
    }

    [Fact]
    public async Task A_written_and_closed_file_has_the_spec_values_and_reads_back()
    {
        var data = Bytes(1_300_000, 1);
        await using (var stream = await Files.CreateAsync(P("/files/a/"), "report.bin", "application/octet-stream", cancellationToken: Ct))
        {
            await stream.WriteAsync(data, Ct);
        }

        var info = await Files.GetInfoAsync(P("/files/a/"), Ct);
        Assert.Equal(new StoredFileInfo(P("/files/a/"), "report.bin", "application/octet-stream", data.Length, IFileStore.DefaultBlockSize, true), info);
        var values = await Registry.GetValuesAsync(P("/files/a/"), Ct);
        Assert.Equal("1", values[".is_file"]);
        Assert.Equal("report.bin", values["fname"]);
        Assert.Equal("application/octet-stream", values["ftype"]);
        Assert.Equal("1300000", values["fsize"]);
        Assert.Equal("524288", values["blsize"]);
        Assert.Equal("1", values["getOk"]);
        Assert.Equal(data, await ReadAllAsync(P("/files/a/")));
    }

    [Fact]
    public async Task A_file_being_written_is_incomplete_and_cannot_be_opened_for_reading()
    {
        await using var stream = await Files.CreateAsync(P("/files/w/"), "w", "text/plain", cancellationToken: Ct);
        stream.Write("partial"u8);
        stream.Flush();

        Assert.False((await Files.GetInfoAsync(P("/files/w/"), Ct))!.IsComplete);
        Assert.Equal("0", await Registry.GetValueAsync(P("/files/w/"), "getOk", Ct));
        await Assert.ThrowsAsync<StoredFileIncompleteException>(() => Files.OpenReadAsync(P("/files/w/"), Ct).AsTask());
    }

    [Fact]
    public async Task Missing_files_are_reported_with_typed_errors()
    {
        await Registry.SetValueAsync(P("/files/plain/"), "k", "v", cancellationToken: Ct);

        Assert.Null(await Files.GetInfoAsync(P("/files/plain/"), Ct));
        await Assert.ThrowsAsync<StoredFileNotFoundException>(() => Files.OpenReadAsync(P("/files/none/"), Ct).AsTask());
        await Assert.ThrowsAsync<StoredFileNotFoundException>(() => Files.OpenWriteAsync(P("/files/plain/"), Ct).AsTask());
        Assert.False(await Files.DeleteAsync(P("/files/none/"), Ct));
    }

    [Fact]
    public async Task A_file_below_a_soft_deleted_node_is_no_longer_a_file()
    {
        await (await Files.CreateAsync(P("/files/owner/f/"), "f", "x/y", cancellationToken: Ct)).DisposeAsync();

        await Registry.DeleteAsync(P("/files/owner/"), cancellationToken: Ct);

        Assert.Null(await Files.GetInfoAsync(P("/files/owner/f/"), Ct));
        await Assert.ThrowsAsync<StoredFileNotFoundException>(() => Files.OpenReadAsync(P("/files/owner/f/"), Ct).AsTask());
    }

    [Fact]
    public async Task Random_seeks_writes_reads_and_truncations_match_a_memory_stream_synchronously_or_not()
    {
        const int blockSize = 1024;
        var random = new Random(20260128);
        var expected = new MemoryStream();
        var path = P("/files/random/");
        var stream = await Files.CreateAsync(path, "r.bin", "application/octet-stream", blockSize, Ct);
        try
        {
            for (var op = 0; op < 800; op++)
            {
                var kind = random.Next(10);
                switch (kind)
                {
                    case 0 or 1:
                    {
                        var target = random.Next((int)expected.Length + 3 * blockSize);
                        Assert.Equal(expected.Seek(target, SeekOrigin.Begin), stream.Seek(target, SeekOrigin.Begin));
                        break;
                    }
                    case 2:
                    {
                        var back = -random.Next((int)Math.Min(expected.Position, 2 * blockSize) + 1);
                        Assert.Equal(expected.Seek(back, SeekOrigin.Current), stream.Seek(back, SeekOrigin.Current));
                        break;
                    }
                    case 3 or 4 or 5:
                    {
                        var data = Bytes(random.Next(1, 3 * blockSize), random.Next());
                        expected.Write(data);
                        if (random.Next(2) == 0)
                        {
                            stream.Write(data);
                        }
                        else
                        {
                            await stream.WriteAsync(data, Ct);
                        }
                        break;
                    }
                    case 6 or 7:
                    {
                        var count = random.Next(1, 3 * blockSize);
                        var want = new byte[count];
                        var got = new byte[count];
                        var n = expected.Read(want);
                        var read = random.Next(2) == 0
                            ? stream.ReadAtLeast(got, count, throwOnEndOfStream: false)
                            : await stream.ReadAtLeastAsync(got, count, throwOnEndOfStream: false, Ct);
                        Assert.Equal(n, read);
                        Assert.Equal(want.AsSpan(0, n).ToArray(), got.AsSpan(0, n).ToArray());
                        break;
                    }
                    case 8:
                    {
                        var length = random.Next((int)expected.Length + 2 * blockSize);
                        expected.SetLength(length);
                        stream.SetLength(length);
                        break;
                    }
                    default:
                    {
                        // Close and reopen: everything must have reached the store.
                        var position = stream.Position;
                        await stream.DisposeAsync();
                        stream = await Files.OpenWriteAsync(path, Ct);
                        stream.Position = position;
                        break;
                    }
                }
                Assert.True(expected.Length == stream.Length && expected.Position == stream.Position,
                    $"After operation {op} (kind {kind}): expected length/position {expected.Length}/{expected.Position}, got {stream.Length}/{stream.Position}.");
            }
        }
        finally
        {
            await stream.DisposeAsync();
        }

        Assert.Equal(expected.Length, (await Files.GetInfoAsync(path, Ct))!.Size);
        Assert.Equal(expected.ToArray(), await ReadAllAsync(path));
    }

    [Fact]
    public async Task Invalid_positions_lengths_and_buffers_are_refused()
    {
        await using var stream = await Files.CreateAsync(P("/files/bad/"), "b", "x/y", 1024, Ct);

        Assert.Throws<IOException>(() => stream.Seek(-1, SeekOrigin.Begin));
        Assert.Throws<IOException>(() => stream.Seek(-1, SeekOrigin.Current));
        Assert.Throws<ArgumentOutOfRangeException>(() => stream.Position = -5);
        Assert.Throws<ArgumentOutOfRangeException>(() => stream.SetLength(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => stream.Read(new byte[4], -1, 2));
        Assert.ThrowsAny<ArgumentException>(() => stream.Write(new byte[4], 2, 3));
        Assert.Equal(0, stream.Position);
    }

    [Fact]
    public async Task A_read_only_stream_refuses_writes()
    {
        await (await Files.CreateAsync(P("/files/ro/"), "ro", "x/y", cancellationToken: Ct)).DisposeAsync();
        await using var stream = await Files.OpenReadAsync(P("/files/ro/"), Ct);

        Assert.False(stream.CanWrite);
        Assert.Throws<NotSupportedException>(() => stream.Write([1, 2, 3]));
        Assert.Throws<NotSupportedException>(() => stream.SetLength(10));
    }

    [Fact]
    public async Task The_block_size_is_fixed_once_set_and_must_be_in_range()
    {
        await (await Files.CreateAsync(P("/files/bs/"), "f", "x/y", 2048, Ct)).DisposeAsync();

        await Assert.ThrowsAsync<StoredFileException>(() => Files.CreateAsync(P("/files/bs/"), "f", "x/y", 4096, Ct).AsTask());
        await Assert.ThrowsAsync<StoredFileException>(() => Files.CreateAsync(P("/files/other/"), "f", "x/y", 100, Ct).AsTask());
        await using (var again = await Files.CreateAsync(P("/files/bs/"), "g", "x/z", cancellationToken: Ct))
        {
            again.Write("new"u8);
        }
        Assert.Equal(2048, (await Files.GetInfoAsync(P("/files/bs/"), Ct))!.BlockSize);
    }

    [Fact]
    public async Task Creating_an_existing_file_again_replaces_its_content()
    {
        await using (var first = await Files.CreateAsync(P("/files/re/"), "f", "x/y", 1024, Ct))
        {
            first.Write(Bytes(5000, 3));
        }
        await using (var second = await Files.CreateAsync(P("/files/re/"), "f", "x/y", cancellationToken: Ct))
        {
            second.Write("abc"u8);
            second.SetLength(2000);
        }

        var content = await ReadAllAsync(P("/files/re/"));
        Assert.Equal(2000, content.Length);
        Assert.Equal("abc"u8.ToArray(), content[..3]);
        Assert.All(content[3..], b => Assert.Equal(0, b));
    }

    [Fact]
    public async Task Deleting_a_file_removes_the_node_and_its_content()
    {
        await using (var stream = await Files.CreateAsync(P("/files/del/"), "d", "x/y", 1024, Ct))
        {
            stream.Write(Bytes(10_000, 4));
        }

        Assert.True(await Files.DeleteAsync(P("/files/del/"), Ct));

        Assert.Null(await Files.GetInfoAsync(P("/files/del/"), Ct));
        Assert.Equal(RegistryNodeStatus.Undefined, await Registry.GetStatusAsync(P("/files/del/"), Ct));
        await (await Files.CreateAsync(P("/files/del/"), "d", "x/y", 1024, Ct)).DisposeAsync();
        Assert.Empty(await ReadAllAsync(P("/files/del/")));
    }

    [Fact]
    public async Task Writing_and_reading_a_large_file_keeps_at_most_about_one_block_in_memory()
    {
        const long size = 56L << 20;
        var chunk = new byte[64 * 1024];
        var random = new Random(7);
        using var written = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var read = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

        var before = GC.GetTotalMemory(forceFullCollection: true);
        long duringWrite, duringRead;
        await using (var stream = await Files.CreateAsync(P("/files/large/"), "large.bin", "application/octet-stream", cancellationToken: Ct))
        {
            for (long done = 0; done < size; done += chunk.Length)
            {
                random.NextBytes(chunk);
                written.AppendData(chunk);
                await stream.WriteAsync(chunk, Ct);
            }
            // Still open: an implementation that buffers the file would hold all of it here.
            duringWrite = GC.GetTotalMemory(forceFullCollection: true) - before;
        }
        await using (var stream = await Files.OpenReadAsync(P("/files/large/"), Ct))
        {
            Assert.Equal(size, stream.Length);
            int n;
            while ((n = await stream.ReadAsync(chunk, Ct)) > 0)
            {
                read.AppendData(chunk, 0, n);
            }
            duringRead = GC.GetTotalMemory(forceFullCollection: true) - before;
        }

        Assert.Equal(written.GetHashAndReset(), read.GetHashAndReset());
        Assert.True(duringWrite < 16 << 20, $"Managed heap grew by {duringWrite >> 20} MiB while writing.");
        Assert.True(duringRead < 16 << 20, $"Managed heap grew by {duringRead >> 20} MiB while reading.");
    }

    [Fact]
    public async Task Copying_a_registry_subtree_copies_file_content()
    {
        await using (var stream = await Files.CreateAsync(P("/blk/src/file/"), "f", "x/y", 1024, Ct))
        {
            stream.Write(Enumerable.Range(0, 3000).Select(i => (byte)i).ToArray());
        }

        await Registry.CopyAsync(P("/blk/src/"), P("/blk/dst/"), Ct);

        await using var copy = await Files.OpenReadAsync(P("/blk/dst/file/"), Ct);
        var bytes = new byte[3000];
        copy.ReadExactly(bytes);
        Assert.Equal(Enumerable.Range(0, 3000).Select(i => (byte)i), bytes);
    }
}
