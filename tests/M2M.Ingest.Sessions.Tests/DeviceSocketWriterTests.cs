using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using M2M.Ingest.Hosting;

namespace M2M.Ingest.Sessions.Tests;

/// <summary>
/// The device connections' <see cref="PipeWriter"/> (<see cref="DeviceSocketWriter"/>) over real loopback
/// sockets: what a flush sends and when it waits, writes larger than a buffer, cancellation, a peer that
/// is gone, completion, and that it holds pool blocks only until they are sent.
/// </summary>
public sealed class DeviceSocketWriterTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Written_bytes_are_sent_on_flush_and_no_block_is_held_afterwards()
    {
        using var sockets = await ConnectedSockets.OpenAsync(Ct);
        using var pool = new CountingPool();
        var writer = Writer(sockets, pool);

        var span = writer.GetSpan(5);
        "hello"u8.CopyTo(span);
        writer.Advance(5);
        writer.Write(" device"u8);
        Assert.Equal(12, writer.UnflushedBytes);
        Assert.Equal(1, pool.Outstanding);

        var flush = writer.FlushAsync(Ct);
        // The kernel takes a small answer at once: the flush completes without waiting.
        Assert.True(flush.IsCompletedSuccessfully);
        var result = await flush;
        Assert.False(result.IsCompleted);
        Assert.False(result.IsCanceled);
        Assert.Equal(0, writer.UnflushedBytes);
        Assert.Equal(0, pool.Outstanding);
        Assert.Equal("hello device"u8.ToArray(), await sockets.ReceiveAsync(12, Ct).WaitAsync(Timeout, Ct));
    }

    [Fact]
    public async Task Writes_larger_than_one_buffer_arrive_whole_and_in_order()
    {
        using var sockets = await ConnectedSockets.OpenAsync(Ct);
        using var pool = new CountingPool();
        var writer = Writer(sockets, pool);
        var many = new byte[50_000];
        Random.Shared.NextBytes(many);
        var one = new byte[30_000];
        Random.Shared.NextBytes(one);

        // Through many pool blocks, then one span larger than a block (an array for the time of the send).
        writer.Write(many);
        one.CopyTo(writer.GetSpan(one.Length));
        writer.Advance(one.Length);
        Assert.Equal(many.Length + one.Length, writer.UnflushedBytes);

        var receive = sockets.ReceiveAsync(many.Length + one.Length, Ct);
        var result = await writer.FlushAsync(Ct).AsTask().WaitAsync(Timeout, Ct);
        Assert.False(result.IsCompleted);
        Assert.Equal(many.Concat(one).ToArray(), await receive.WaitAsync(Timeout, Ct));
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public async Task CancelPendingFlush_ends_a_waiting_flush_and_its_bytes_still_arrive_before_later_ones()
    {
        using var sockets = await ConnectedSockets.OpenAsync(Ct);
        using var pool = new CountingPool();
        var writer = Writer(sockets, pool);
        var big = Filled(64 << 20, 1);

        writer.Write(big);
        var flush = writer.FlushAsync(Ct);
        await Task.Delay(200, Ct);
        Assert.False(flush.IsCompleted, "the flush completed although the peer has not read");
        writer.CancelPendingFlush();
        var cancelled = await flush.AsTask().WaitAsync(Timeout, Ct);
        Assert.True(cancelled.IsCanceled);
        Assert.False(cancelled.IsCompleted);

        // Written after the cancelled flush: sent once the first bytes are.
        writer.Write("tail"u8);
        var next = writer.FlushAsync(Ct).AsTask();
        var received = await sockets.ReceiveAsync(big.Length + 4, Ct).WaitAsync(TimeSpan.FromSeconds(60), Ct);
        Assert.DoesNotContain(received.AsSpan(0, big.Length).ToArray(), b => b != 1);
        Assert.Equal("tail"u8.ToArray(), received.AsSpan(big.Length).ToArray());
        var result = await next.WaitAsync(Timeout, Ct);
        Assert.False(result.IsCanceled);
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public async Task CancelPendingFlush_without_a_pending_flush_cancels_the_next_one_only()
    {
        using var sockets = await ConnectedSockets.OpenAsync(Ct);
        using var pool = new CountingPool();
        var writer = Writer(sockets, pool);

        writer.CancelPendingFlush();
        writer.Write("ab"u8);
        var cancelled = await writer.FlushAsync(Ct);
        Assert.True(cancelled.IsCanceled);
        Assert.Equal(2, writer.UnflushedBytes);

        var sent = await writer.FlushAsync(Ct);
        Assert.False(sent.IsCanceled);
        Assert.Equal("ab"u8.ToArray(), await sockets.ReceiveAsync(2, Ct).WaitAsync(Timeout, Ct));
    }

    [Fact]
    public async Task A_cancelled_token_ends_a_waiting_flush_and_the_next_flush_waits_for_the_bytes_to_go()
    {
        using var sockets = await ConnectedSockets.OpenAsync(Ct);
        using var pool = new CountingPool();
        var writer = Writer(sockets, pool);
        var big = Filled(64 << 20, 2);
        using var cts = new CancellationTokenSource();

        writer.Write(big);
        var flush = writer.FlushAsync(cts.Token);
        Assert.False(flush.IsCompleted);
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => flush.AsTask().WaitAsync(Timeout, Ct));

        var next = writer.FlushAsync(Ct).AsTask();
        await Task.Delay(200, Ct);
        Assert.False(next.IsCompleted, "the flush completed before the device took the bytes");
        var received = await sockets.ReceiveAsync(big.Length, Ct).WaitAsync(TimeSpan.FromSeconds(60), Ct);
        Assert.DoesNotContain(received, b => b != 2);
        Assert.False((await next.WaitAsync(Timeout, Ct)).IsCanceled);
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public async Task A_flush_to_a_peer_that_reset_the_connection_reports_it_completed_and_drops_the_bytes()
    {
        using var sockets = await ConnectedSockets.OpenAsync(Ct);
        using var pool = new CountingPool();
        var writer = Writer(sockets, pool);
        sockets.Client.LingerState = new LingerOption(true, 0);
        sockets.Client.Close();

        // The first send after the reset may still be taken by the kernel; the reset shows within a few.
        var deadline = DateTime.UtcNow + Timeout;
        FlushResult result;
        do
        {
            Assert.True(DateTime.UtcNow < deadline, "no flush noticed the reset");
            writer.Write("ping"u8);
            result = await writer.FlushAsync(Ct).AsTask().WaitAsync(Timeout, Ct);
            await Task.Delay(10, Ct);
        }
        while (!result.IsCompleted);
        Assert.Equal(0, pool.Outstanding);

        writer.Write("more"u8);
        Assert.True((await writer.FlushAsync(Ct)).IsCompleted);
        Assert.Equal(0, writer.UnflushedBytes);
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public async Task A_flush_waiting_for_a_device_that_does_not_read_ends_completed_when_the_connection_is_shut_down()
    {
        using var sockets = await ConnectedSockets.OpenAsync(Ct);
        using var pool = new CountingPool();
        var writer = Writer(sockets, pool);

        writer.Write(Filled(64 << 20, 3));
        var flush = writer.FlushAsync(Ct);
        Assert.False(flush.IsCompleted);
        // What the connection's Abort does (a session whose write timed out).
        sockets.Server.Shutdown(SocketShutdown.Both);
        var result = await flush.AsTask().WaitAsync(Timeout, Ct);
        Assert.True(result.IsCompleted);
        await DeviceServer.EventuallyAsync(() => Task.FromResult(pool.Outstanding == 0), "the blocks of the failed send given back");
    }

    [Fact]
    public async Task CompleteAsync_sends_what_was_written_and_later_writes_throw_InvalidOperationException()
    {
        using var sockets = await ConnectedSockets.OpenAsync(Ct);
        using var pool = new CountingPool();
        var writer = Writer(sockets, pool);
        var data = Filled(8 << 20, 4);

        writer.Write(data);
        var receive = sockets.ReceiveAsync(data.Length, Ct);
        await writer.CompleteAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(60), Ct);
        Assert.Equal(data, await receive.WaitAsync(Timeout, Ct));
        Assert.Equal(0, pool.Outstanding);

        Assert.Throws<InvalidOperationException>(() => writer.GetSpan());
        Assert.Throws<InvalidOperationException>(() => writer.Advance(0));
        Assert.Throws<InvalidOperationException>(() => writer.FlushAsync(Ct));
        await writer.CompleteAsync();
    }

    [Fact]
    public async Task Complete_sends_a_small_unflushed_answer_and_Complete_with_an_error_drops_it()
    {
        using var sockets = await ConnectedSockets.OpenAsync(Ct);
        using var pool = new CountingPool();
        var writer = Writer(sockets, pool);
        writer.Write("bye"u8);
        writer.Complete();
        Assert.Equal("bye"u8.ToArray(), await sockets.ReceiveAsync(3, Ct).WaitAsync(Timeout, Ct));
        Assert.Equal(0, pool.Outstanding);

        using var other = await ConnectedSockets.OpenAsync(Ct);
        var failed = Writer(other, pool);
        failed.Write("half"u8);
        failed.Complete(new InvalidOperationException("session failed"));
        Assert.Equal(0, pool.Outstanding);
        other.Server.Shutdown(SocketShutdown.Send);
        Assert.Equal(0, await other.Client.ReceiveAsync(new byte[8], Ct).AsTask().WaitAsync(Timeout, Ct));
    }

    [Fact]
    public async Task Advance_past_the_memory_given_is_refused()
    {
        using var sockets = await ConnectedSockets.OpenAsync(Ct);
        using var pool = new CountingPool();
        var writer = Writer(sockets, pool);
        Assert.Throws<ArgumentOutOfRangeException>(() => writer.Advance(1));
        var memory = writer.GetMemory();
        Assert.Throws<ArgumentOutOfRangeException>(() => writer.Advance(memory.Length + 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => writer.Advance(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => writer.GetMemory(-1));
        writer.Advance(memory.Length);
        Assert.Equal(memory.Length, writer.UnflushedBytes);
        writer.Complete(new OperationCanceledException());
        Assert.Equal(0, pool.Outstanding);
    }

    private static DeviceSocketWriter Writer(ConnectedSockets sockets, CountingPool pool) => new(sockets.Server, pool, 4096);

    private static byte[] Filled(int length, byte value)
    {
        var bytes = new byte[length];
        bytes.AsSpan().Fill(value);
        return bytes;
    }
}
