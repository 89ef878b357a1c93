using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Net.Sockets;
using M2M.Ingest.Hosting;

namespace M2M.Ingest.Sessions.Tests;

/// <summary>
/// The device connections' <see cref="PipeReader"/> (<see cref="DeviceSocketReader"/>) over real loopback
/// sockets: what it returns, what AdvanceTo keeps, when a read waits, cancellation, the end of the
/// input, completion, and that it holds pool blocks only while bytes wait.
/// </summary>
public sealed class DeviceSocketReaderTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_frame_split_across_reads_is_returned_whole_once_its_rest_arrives()
    {
        using var sockets = await ConnectedSockets.OpenAsync(Ct);
        using var pool = new CountingPool();
        var reader = Reader(sockets, pool);

        await sockets.Client.SendAsync("hel"u8.ToArray(), Ct);
        var first = await ReadAsync(reader);
        Assert.Equal("hel"u8.ToArray(), first.Buffer.ToArray());
        reader.AdvanceTo(first.Buffer.Start, first.Buffer.End);

        await sockets.Client.SendAsync("lo!"u8.ToArray(), Ct);
        var whole = await ReadAtLeastAsync(reader, 6);
        Assert.Equal("hello!"u8.ToArray(), whole.Buffer.ToArray());
        // The frame "hello" consumed, "!" kept for the next frame.
        reader.AdvanceTo(whole.Buffer.GetPosition(5), whole.Buffer.End);
        Assert.Equal(1, pool.Outstanding);

        await sockets.Client.SendAsync("?"u8.ToArray(), Ct);
        var next = await ReadAtLeastAsync(reader, 2);
        Assert.Equal("!?"u8.ToArray(), next.Buffer.ToArray());
        reader.AdvanceTo(next.Buffer.End);
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public async Task Bytes_consumed_in_part_and_not_all_examined_are_returned_again_without_waiting()
    {
        using var sockets = await ConnectedSockets.OpenAsync(Ct);
        using var pool = new CountingPool();
        var reader = Reader(sockets, pool);
        await sockets.Client.SendAsync("abcdef"u8.ToArray(), Ct);

        var first = await ReadAtLeastAsync(reader, 6);
        reader.AdvanceTo(first.Buffer.GetPosition(2), first.Buffer.GetPosition(4));

        // No new bytes were sent: the read returns the rest at once.
        var read = reader.ReadAsync(Ct);
        Assert.True(read.IsCompletedSuccessfully);
        var again = await read;
        Assert.Equal("cdef"u8.ToArray(), again.Buffer.ToArray());
        reader.AdvanceTo(again.Buffer.End);
    }

    [Fact]
    public async Task Examining_every_byte_makes_the_next_read_wait_for_new_ones()
    {
        using var sockets = await ConnectedSockets.OpenAsync(Ct);
        using var pool = new CountingPool();
        var reader = Reader(sockets, pool);
        await sockets.Client.SendAsync("abc"u8.ToArray(), Ct);
        var first = await ReadAtLeastAsync(reader, 3);
        reader.AdvanceTo(first.Buffer.Start, first.Buffer.End);

        var read = reader.ReadAsync(Ct);
        await Task.Delay(200, Ct);
        Assert.False(read.IsCompleted, "the read returned the examined bytes again instead of waiting");

        await sockets.Client.SendAsync("d"u8.ToArray(), Ct);
        var result = await read.AsTask().WaitAsync(Timeout, Ct);
        Assert.Equal("abcd"u8.ToArray(), result.Buffer.ToArray());
        reader.AdvanceTo(result.Buffer.End);
    }

    [Fact]
    public async Task One_byte_at_a_time_in_both_directions_keeps_every_byte_in_order()
    {
        using var sockets = await ConnectedSockets.OpenAsync(Ct);
        using var pool = new CountingPool();
        var reader = Reader(sockets, pool);

        // The device sends one byte per segment, each after the reader took the previous one.
        for (var i = 0; i < 50; i++)
        {
            await sockets.Client.SendAsync(new[] { (byte)i }, Ct);
            var result = await ReadAsync(reader);
            Assert.Equal(new[] { (byte)i }, result.Buffer.ToArray());
            reader.AdvanceTo(result.Buffer.End);
        }

        // Many bytes at once, consumed one per read.
        var bytes = Enumerable.Range(0, 3000).Select(i => (byte)(i * 7)).ToArray();
        await sockets.Client.SendAsync(bytes, Ct);
        var taken = new List<byte>();
        while (taken.Count < bytes.Length)
        {
            var result = await ReadAsync(reader);
            taken.Add(result.Buffer.FirstSpan[0]);
            var one = result.Buffer.GetPosition(1);
            reader.AdvanceTo(one, one);
        }
        Assert.Equal(bytes, taken);
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public async Task Data_larger_than_one_buffer_spans_several_blocks_and_each_goes_back_once_consumed()
    {
        using var sockets = await ConnectedSockets.OpenAsync(Ct);
        using var pool = new CountingPool();
        var reader = Reader(sockets, pool);
        var data = new byte[20_000];
        Random.Shared.NextBytes(data);

        var send = sockets.Client.SendAsync(data, Ct);
        var result = await ReadAtLeastAsync(reader, data.Length);
        await send;
        Assert.False(result.Buffer.IsSingleSegment);
        Assert.Equal(data, result.Buffer.ToArray());
        var blocks = pool.Outstanding;
        Assert.True(blocks >= 5, $"20,000 bytes in {blocks} blocks of 4,096");

        // Consumed past the first blocks: they go back, the rest stays readable.
        reader.AdvanceTo(result.Buffer.GetPosition(9_000), result.Buffer.GetPosition(9_000));
        Assert.True(pool.Outstanding < blocks);
        var rest = await ReadAsync(reader);
        Assert.Equal(data.AsSpan(9_000).ToArray(), rest.Buffer.ToArray());
        reader.AdvanceTo(rest.Buffer.End);
        Assert.Equal(0, pool.Outstanding);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Length_prefixed_frames_sent_in_random_pieces_are_all_read_back(bool sharedPool)
    {
        using var sockets = await ConnectedSockets.OpenAsync(Ct);
        using var pool = new CountingPool();
        // The shared pool's blocks are taken from the array pool directly (DeviceSocketSegment).
        var reader = sharedPool ? new DeviceSocketReader(sockets.Server, MemoryPool<byte>.Shared, 4096, 1024) : Reader(sockets, pool);
        var random = new Random(16);
        var frames = Enumerable.Range(0, 300).Select(_ =>
        {
            var frame = new byte[random.Next(0, random.Next(2) == 0 ? 40 : 9_000)];
            random.NextBytes(frame);
            return frame;
        }).ToList();
        var stream = frames.SelectMany(f => BitConverter.GetBytes(BinaryPrimitives.ReverseEndianness(f.Length)).Concat(f)).ToArray();

        var send = Task.Run(async () =>
        {
            for (var at = 0; at < stream.Length;)
            {
                var piece = Math.Min(stream.Length - at, random.Next(1, 3) == 1 ? random.Next(1, 8) : random.Next(1, 6_000));
                await sockets.Client.SendAsync(stream.AsMemory(at, piece), Ct);
                at += piece;
            }
            sockets.Client.Shutdown(SocketShutdown.Send);
        }, Ct);

        var received = new List<byte[]>();
        var header = new byte[4];
        while (true)
        {
            var result = await ReadAsync(reader);
            var buffer = result.Buffer;
            while (buffer.Length >= 4)
            {
                buffer.Slice(0, 4).CopyTo(header);
                var length = BinaryPrimitives.ReadInt32BigEndian(header);
                if (buffer.Length < 4 + length)
                {
                    break;
                }
                received.Add(buffer.Slice(4, length).ToArray());
                buffer = buffer.Slice(4 + length);
            }
            reader.AdvanceTo(buffer.Start, result.Buffer.End);
            if (result.IsCompleted)
            {
                Assert.True(buffer.IsEmpty);
                break;
            }
        }
        await send;
        Assert.Equal(frames.Count, received.Count);
        for (var i = 0; i < frames.Count; i++)
        {
            Assert.Equal(frames[i], received[i]);
        }
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public async Task TryRead_gives_bytes_not_examined_yet_and_nothing_otherwise()
    {
        using var sockets = await ConnectedSockets.OpenAsync(Ct);
        using var pool = new CountingPool();
        var reader = Reader(sockets, pool);
        Assert.False(reader.TryRead(out _));

        await sockets.Client.SendAsync("abcd"u8.ToArray(), Ct);
        var first = await ReadAtLeastAsync(reader, 4);
        reader.AdvanceTo(first.Buffer.GetPosition(1), first.Buffer.GetPosition(1));
        Assert.True(reader.TryRead(out var rest));
        Assert.Equal("bcd"u8.ToArray(), rest.Buffer.ToArray());
        reader.AdvanceTo(rest.Buffer.Start, rest.Buffer.End);
        Assert.False(reader.TryRead(out _));
    }

    [Fact]
    public async Task CancelPendingRead_without_a_pending_read_cancels_the_next_one_only()
    {
        using var sockets = await ConnectedSockets.OpenAsync(Ct);
        using var pool = new CountingPool();
        var reader = Reader(sockets, pool);
        await sockets.Client.SendAsync("ab"u8.ToArray(), Ct);
        var first = await ReadAtLeastAsync(reader, 2);
        reader.AdvanceTo(first.Buffer.GetPosition(1), first.Buffer.GetPosition(1));

        reader.CancelPendingRead();
        var read = reader.ReadAsync(Ct);
        Assert.True(read.IsCompletedSuccessfully);
        var cancelled = await read;
        Assert.True(cancelled.IsCanceled);
        Assert.Equal("b"u8.ToArray(), cancelled.Buffer.ToArray());
        reader.AdvanceTo(cancelled.Buffer.Start);

        var next = await ReadAsync(reader);
        Assert.False(next.IsCanceled);
        Assert.Equal("b"u8.ToArray(), next.Buffer.ToArray());
        reader.AdvanceTo(next.Buffer.End);
    }

    [Fact]
    public async Task A_read_cancelled_while_waiting_leaves_the_connection_readable_and_holds_no_buffer()
    {
        using var sockets = await ConnectedSockets.OpenAsync(Ct);
        using var pool = new CountingPool();
        var reader = Reader(sockets, pool);

        for (var i = 0; i < 3; i++)
        {
            // The socket's receive of the cancelled read stays pending; the next read takes it over.
            var read = reader.ReadAsync(Ct);
            Assert.False(read.IsCompleted);
            reader.CancelPendingRead();
            var result = await read.AsTask().WaitAsync(Timeout, Ct);
            Assert.True(result.IsCanceled);
            Assert.False(result.IsCompleted);
            reader.AdvanceTo(result.Buffer.Start);
            Assert.Equal(0, pool.Outstanding);
        }

        var waiting = reader.ReadAsync(Ct);
        await sockets.Client.SendAsync("x"u8.ToArray(), Ct);
        var data = await waiting.AsTask().WaitAsync(Timeout, Ct);
        Assert.Equal("x"u8.ToArray(), data.Buffer.ToArray());
        reader.AdvanceTo(data.Buffer.End);
    }

    [Fact]
    public async Task A_cancelled_token_ends_a_waiting_read_with_OperationCanceledException_and_the_reader_still_works()
    {
        using var sockets = await ConnectedSockets.OpenAsync(Ct);
        using var pool = new CountingPool();
        var reader = Reader(sockets, pool);
        using var cts = new CancellationTokenSource();

        var read = reader.ReadAsync(cts.Token);
        Assert.False(read.IsCompleted);
        cts.Cancel();
        var error = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => read.AsTask().WaitAsync(Timeout, Ct));
        Assert.Equal(cts.Token, error.CancellationToken);
        Assert.True(reader.ReadAsync(cts.Token).IsCanceled);

        await sockets.Client.SendAsync("y"u8.ToArray(), Ct);
        var next = await ReadAsync(reader);
        Assert.Equal("y"u8.ToArray(), next.Buffer.ToArray());
        reader.AdvanceTo(next.Buffer.End);
    }

    [Fact]
    public async Task The_peer_closing_after_its_last_bytes_gives_those_bytes_then_the_end_on_every_read()
    {
        using var sockets = await ConnectedSockets.OpenAsync(Ct);
        using var pool = new CountingPool();
        var reader = Reader(sockets, pool);
        await sockets.Client.SendAsync("last"u8.ToArray(), Ct);
        sockets.Client.Shutdown(SocketShutdown.Send);

        var result = await ReadAsync(reader);
        while (!result.IsCompleted)
        {
            reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
            result = await ReadAsync(reader);
        }
        Assert.Equal("last"u8.ToArray(), result.Buffer.ToArray());
        reader.AdvanceTo(result.Buffer.End);
        Assert.Equal(0, pool.Outstanding);

        var read = reader.ReadAsync(Ct);
        Assert.True(read.IsCompletedSuccessfully);
        var again = await read;
        Assert.True(again.IsCompleted);
        Assert.True(again.Buffer.IsEmpty);
        reader.AdvanceTo(again.Buffer.End);
    }

    [Fact]
    public async Task A_reset_connection_fails_every_later_read_with_an_IOException()
    {
        using var sockets = await ConnectedSockets.OpenAsync(Ct);
        using var pool = new CountingPool();
        var reader = Reader(sockets, pool);
        var read = reader.ReadAsync(Ct);

        sockets.Client.LingerState = new LingerOption(true, 0);
        sockets.Client.Close();
        var error = await Assert.ThrowsAsync<IOException>(() => read.AsTask().WaitAsync(Timeout, Ct));
        Assert.Equal(SocketError.ConnectionReset, Assert.IsType<SocketException>(error.InnerException).SocketErrorCode);
        await Assert.ThrowsAsync<IOException>(() => reader.ReadAsync(Ct).AsTask().WaitAsync(Timeout, Ct));
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public async Task Complete_gives_back_the_buffered_blocks_and_later_reads_throw_InvalidOperationException()
    {
        using var sockets = await ConnectedSockets.OpenAsync(Ct);
        using var pool = new CountingPool();
        var reader = Reader(sockets, pool);
        await sockets.Client.SendAsync(new byte[6_000], Ct);
        var result = await ReadAtLeastAsync(reader, 6_000);
        reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        Assert.Equal(2, pool.Outstanding);

        reader.Complete(new InvalidDataException("bad frame"));
        Assert.Equal(0, pool.Outstanding);
        Assert.Throws<InvalidOperationException>(() => reader.ReadAsync(Ct));
        Assert.Throws<InvalidOperationException>(() => reader.TryRead(out _));
        Assert.Throws<InvalidOperationException>(() => reader.AdvanceTo(result.Buffer.End));
        // Completing again is harmless (a session's end and the connection's disposal both complete).
        await reader.CompleteAsync();
    }

    [Fact]
    public async Task CompleteAsync_while_idle_leaves_nothing_held_and_reading_is_refused()
    {
        using var sockets = await ConnectedSockets.OpenAsync(Ct);
        using var pool = new CountingPool();
        var reader = Reader(sockets, pool);
        var read = reader.ReadAsync(Ct);
        reader.CancelPendingRead();
        reader.AdvanceTo((await read).Buffer.Start);

        await reader.CompleteAsync();
        await sockets.Client.SendAsync("late"u8.ToArray(), Ct);
        Assert.Throws<InvalidOperationException>(() => reader.ReadAsync(Ct));
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public async Task AdvanceTo_without_a_read_or_past_the_buffer_is_refused()
    {
        using var sockets = await ConnectedSockets.OpenAsync(Ct);
        using var pool = new CountingPool();
        var reader = Reader(sockets, pool);
        Assert.Throws<InvalidOperationException>(() => reader.AdvanceTo(default));

        await sockets.Client.SendAsync("abc"u8.ToArray(), Ct);
        var result = await ReadAtLeastAsync(reader, 3);
        var foreign = new ReadOnlySequence<byte>(new byte[3]);
        Assert.Throws<ArgumentOutOfRangeException>(() => reader.AdvanceTo(foreign.End));
        // Examined before consumed.
        Assert.Throws<ArgumentOutOfRangeException>(() => reader.AdvanceTo(result.Buffer.GetPosition(2), result.Buffer.GetPosition(1)));
        reader.AdvanceTo(result.Buffer.GetPosition(1), result.Buffer.End);
        // A position already consumed.
        var rest = await ReadAtLeastAsync(reader, 3, more: "d"u8.ToArray(), sockets);
        Assert.Throws<ArgumentOutOfRangeException>(() => reader.AdvanceTo(result.Buffer.Start));
        reader.AdvanceTo(rest.Buffer.End);
    }

    private static DeviceSocketReader Reader(ConnectedSockets sockets, CountingPool pool) =>
        new(sockets.Server, pool, 4096, 1024);

    private static Task<ReadResult> ReadAsync(PipeReader reader) => reader.ReadAsync(Ct).AsTask().WaitAsync(Timeout, Ct);

    private static async Task<ReadResult> ReadAtLeastAsync(PipeReader reader, int bytes, byte[]? more = null, ConnectedSockets? sockets = null)
    {
        if (more is not null)
        {
            await sockets!.Client.SendAsync(more, Ct);
        }
        while (true)
        {
            var result = await ReadAsync(reader);
            if (result.Buffer.Length >= bytes || result.IsCompleted)
            {
                return result;
            }
            reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }
}
