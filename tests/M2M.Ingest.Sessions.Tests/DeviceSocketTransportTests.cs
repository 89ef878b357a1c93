using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using M2M.Ingest.Hosting;
using M2M.Testing;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;

namespace M2M.Ingest.Sessions.Tests;

/// <summary>
/// The device listeners' own socket transport (<see cref="DeviceSocketTransportFactory"/>,
/// <c>M2M:Ingest:Transport=Lean</c>) over real sockets: on its own (buffers, end of input, abort,
/// backpressure, accept) and in the server (idle devices, many devices, TLS).
/// </summary>
public sealed class DeviceSocketTransportTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task An_idle_connection_holds_no_read_buffer_and_takes_one_only_while_bytes_wait()
    {
        using var pool = new CountingPool();
        await using var pair = await Pair.OpenAsync(pool);

        var read = pair.Server.Transport.Input.ReadAsync(Ct);
        // The read waits for data without a buffer (a zero-byte read on the socket).
        await Task.Delay(200, Ct);
        Assert.False(read.IsCompleted);
        Assert.Equal(0, pool.Outstanding);

        await pair.Client.SendAsync("hello"u8.ToArray(), Ct);
        var result = await read.AsTask().WaitAsync(Timeout, Ct);
        Assert.Equal("hello"u8.ToArray(), result.Buffer.ToArray());
        Assert.Equal(1, pool.Outstanding);

        pair.Server.Transport.Input.AdvanceTo(result.Buffer.End);
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public async Task Bytes_left_unconsumed_stay_buffered_until_the_rest_arrives()
    {
        using var pool = new CountingPool();
        await using var pair = await Pair.OpenAsync(pool);
        var input = pair.Server.Transport.Input;

        await pair.Client.SendAsync("par"u8.ToArray(), Ct);
        var first = await input.ReadAsync(Ct).AsTask().WaitAsync(Timeout, Ct);
        input.AdvanceTo(first.Buffer.Start, first.Buffer.End);
        Assert.Equal(1, pool.Outstanding);

        await pair.Client.SendAsync("tial"u8.ToArray(), Ct);
        var whole = await ReadAtLeastAsync(input, 7);
        Assert.Equal("partial"u8.ToArray(), whole.Buffer.ToArray());
        input.AdvanceTo(whole.Buffer.End);
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public async Task A_frame_larger_than_one_pool_block_is_read_whole()
    {
        using var pool = new CountingPool();
        await using var pair = await Pair.OpenAsync(pool);
        var frame = new byte[100_000];
        Random.Shared.NextBytes(frame);

        var send = pair.Client.SendAsync(frame, Ct);
        var result = await ReadAtLeastAsync(pair.Server.Transport.Input, frame.Length);
        await send;
        Assert.Equal(frame, result.Buffer.ToArray());
        pair.Server.Transport.Input.AdvanceTo(result.Buffer.End);
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public async Task The_peer_closing_ends_the_input()
    {
        using var pool = new CountingPool();
        await using var pair = await Pair.OpenAsync(pool);
        var read = pair.Server.Transport.Input.ReadAsync(Ct);

        pair.Client.Shutdown(SocketShutdown.Send);
        var result = await read.AsTask().WaitAsync(Timeout, Ct);
        Assert.True(result.IsCompleted);
        Assert.True(result.Buffer.IsEmpty);
    }

    [Fact]
    public async Task A_peer_resetting_the_connection_ends_the_input_with_an_IOException()
    {
        using var pool = new CountingPool();
        await using var pair = await Pair.OpenAsync(pool);
        var read = pair.Server.Transport.Input.ReadAsync(Ct);

        // Closing with a zero linger time sends RST instead of FIN.
        pair.Client.LingerState = new LingerOption(true, 0);
        pair.Client.Close();
        // A session treats IOException as a lost connection (a SocketException would be an unexpected failure).
        var error = await Assert.ThrowsAsync<IOException>(() => read.AsTask().WaitAsync(Timeout, Ct));
        Assert.Equal(SocketError.ConnectionReset, Assert.IsType<SocketException>(error.InnerException).SocketErrorCode);
    }

    [Fact]
    public async Task A_read_that_waited_resumes_the_reader_outside_the_sockets_event_processing()
    {
        using var pool = new CountingPool();
        await using var pair = await Pair.OpenAsync(pool);
        var read = pair.Server.Transport.Input.ReadAsync(Ct);
        Assert.False(read.IsCompleted);
        var resumedAt = WhereResumed(read);

        await pair.Client.SendAsync("x"u8.ToArray(), Ct);
        var stack = await resumedAt.WaitAsync(Timeout, Ct);
        var result = await read;
        pair.Server.Transport.Input.AdvanceTo(result.Buffer.End);

        // Inside the socket engine's event processing, a session's synchronous work (storage writes) would
        // hold up the events of every other socket (their data, their peer's close): it runs as a work item of its own.
        Assert.DoesNotContain("SocketAsyncEngine", stack, StringComparison.Ordinal);
        Assert.Contains(nameof(DeviceSocketReader), stack, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Abort_ends_a_pending_read_and_closes_the_connection_for_the_peer()
    {
        using var pool = new CountingPool();
        await using var pair = await Pair.OpenAsync(pool);
        var read = pair.Server.Transport.Input.ReadAsync(Ct);

        pair.Server.Abort(new ConnectionAbortedException("test"));
        var result = await read.AsTask().WaitAsync(Timeout, Ct);
        Assert.True(result.IsCompleted);
        var buffer = new byte[16];
        Assert.Equal(0, await pair.Client.ReceiveAsync(buffer, Ct).AsTask().WaitAsync(Timeout, Ct));
    }

    [Fact]
    public async Task CancelPendingRead_wakes_an_idle_read()
    {
        using var pool = new CountingPool();
        await using var pair = await Pair.OpenAsync(pool);
        var input = pair.Server.Transport.Input;
        var read = input.ReadAsync(Ct);

        input.CancelPendingRead();
        var result = await read.AsTask().WaitAsync(Timeout, Ct);
        Assert.True(result.IsCanceled);
        input.AdvanceTo(result.Buffer.Start);

        // The connection still works afterwards.
        await pair.Client.SendAsync("x"u8.ToArray(), Ct);
        var next = await input.ReadAsync(Ct).AsTask().WaitAsync(Timeout, Ct);
        Assert.Equal("x"u8.ToArray(), next.Buffer.ToArray());
        input.AdvanceTo(next.Buffer.End);
    }

    [Fact]
    public async Task A_flush_waits_while_the_peer_does_not_read_and_completes_once_it_does()
    {
        using var pool = new CountingPool();
        await using var pair = await Pair.OpenAsync(pool);
        var output = pair.Server.Transport.Output;
        // More than the kernel's send and receive buffers on loopback hold together.
        var payload = new byte[64 << 20];
        payload.AsSpan().Fill(7);

        output.Write(payload);
        Assert.Equal(payload.Length, output.UnflushedBytes);
        var flush = output.FlushAsync(Ct).AsTask();
        await Task.Delay(500, Ct);
        Assert.False(flush.IsCompleted, "the flush completed although the peer has not read");

        var buffer = new byte[1 << 20];
        long received = 0;
        while (received < payload.Length)
        {
            var n = await pair.Client.ReceiveAsync(buffer, Ct).AsTask().WaitAsync(Timeout, Ct);
            Assert.NotEqual(0, n);
            Assert.DoesNotContain(buffer.AsSpan(0, n).ToArray(), b => b != 7);
            received += n;
        }
        var result = await flush.WaitAsync(Timeout, Ct);
        Assert.False(result.IsCompleted);
        Assert.Equal(0, output.UnflushedBytes);
    }

    [Fact]
    public async Task An_unbound_listener_accepts_no_more_connections()
    {
        var factory = new DeviceSocketTransportFactory(new SocketTransportOptions(), MemoryPool<byte>.Shared);
        var listener = await factory.BindAsync(new IPEndPoint(IPAddress.Loopback, 0), Ct);
        var accept = listener.AcceptAsync(Ct);
        await listener.UnbindAsync(Ct);
        Assert.Null(await accept.AsTask().WaitAsync(Timeout, Ct));
        await listener.DisposeAsync();
    }

    [Fact]
    public async Task Devices_idle_for_a_while_are_still_served()
    {
        await using var server = await DeviceServer.StartAsync("Transport=Lean");
        await using var alip = await server.ConnectAlipAsync();
        await alip.IdentifyAsync(Idents.New());
        await alip.ExpectAsync("S GA");
        await using var m2mp = await server.ConnectM2mpAsync();
        await m2mp.IdentifyNewAsync(Idents.New());

        // Long enough for every read to have gone back to waiting without a buffer.
        await Task.Delay(TimeSpan.FromSeconds(3), Ct);

        await alip.SendAsync("D T 1");
        await alip.BarrierAsync();
        Assert.StartsWith("T ", await alip.AskAsync("T"));
        await m2mp.SendTextAsync("t", "after idle");
        await m2mp.PingAsync(7);
    }

    [Fact]
    public async Task Many_identified_devices_are_held_and_answered()
    {
        await using var server = await DeviceServer.StartAsync("Transport=Lean");
        var devices = new List<AlipDevice>();
        try
        {
            for (var i = 0; i < 300; i++)
            {
                devices.Add(await server.ConnectAlipAsync());
            }
            await Task.WhenAll(devices.Select(async d =>
            {
                await d.IdentifyAsync(Idents.New());
                await d.ExpectAsync("S GA");
            }));
            Assert.Equal(300, server.Connections.GetAll().Count(c => c.DeviceId is not null));
            await Task.WhenAll(devices.Select(async d => Assert.StartsWith("T ", await d.AskAsync("T"))));
        }
        finally
        {
            foreach (var d in devices)
            {
                await d.DisposeAsync();
            }
        }
        await DeviceServer.EventuallyAsync(() => Task.FromResult(server.Connections.Count == 0), "every connection gone once the devices closed");
    }

    [Theory]
    [InlineData("Lean")]
    [InlineData("Kestrel")]
    public async Task Either_transport_serves_both_protocols(string transport)
    {
        await using var server = await DeviceServer.StartAsync($"Transport={transport}");
        await using var alip = await server.ConnectAlipAsync();
        await alip.IdentifyAsync(Idents.New());
        await alip.ExpectAsync("S GA");
        await alip.SendAsync("D T 1");
        await alip.BarrierAsync();
        await using var m2mp = await server.ConnectM2mpAsync();
        await m2mp.IdentifyNewAsync(Idents.New());
        await m2mp.PingAsync(3);
    }

    [Fact]
    public async Task The_lean_transport_serves_TLS_devices()
    {
        using var files = new M2M.Testing.TempDirectory("m2m-lean-tls");
        var serverCertificate = TestCertificates.Server();
        var (certificate, key) = TestCertificates.WritePem(files, serverCertificate);
        await using var server = await DeviceServer.StartAsync(
            "Transport=Lean", "Tls:Enabled=true", "Tls:M2mpPort=0", "Tls:AlipPort=0", $"Tls:CertificatePath={certificate}", $"Tls:KeyPath={key}");
        await using var alip = await server.ConnectAlipTlsAsync(serverCertificate);
        await alip.IdentifyAsync(Idents.New());
        await alip.ExpectAsync("S GA");
        await alip.SendAsync("D T 1");
        await alip.BarrierAsync();
        await using var m2mp = await server.ConnectM2mpTlsAsync(serverCertificate);
        await m2mp.IdentifyNewAsync(Idents.New());
        await m2mp.PingAsync(5);
    }

    /// <summary>The stack on which a pending read resumes its reader (no context captured: right where the read completes).</summary>
    private static Task<string> WhereResumed(ValueTask<ReadResult> read)
    {
        var resumedAt = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        read.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(() => resumedAt.TrySetResult(Environment.StackTrace));
        return resumedAt.Task;
    }

    private static async Task<ReadResult> ReadAtLeastAsync(PipeReader input, int bytes)
    {
        while (true)
        {
            var result = await input.ReadAsync(Ct).AsTask().WaitAsync(Timeout, Ct);
            if (result.Buffer.Length >= bytes || result.IsCompleted)
            {
                return result;
            }
            input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }

    /// <summary>A listener of the transport and one connection to it: the server's side and the client's socket.</summary>
    private sealed class Pair : IAsyncDisposable
    {
        private readonly IConnectionListener _listener;

        private Pair(IConnectionListener listener, ConnectionContext server, Socket client)
        {
            _listener = listener;
            Server = server;
            Client = client;
        }

        public ConnectionContext Server { get; }

        public Socket Client { get; }

        public static async Task<Pair> OpenAsync(MemoryPool<byte> pool)
        {
            var factory = new DeviceSocketTransportFactory(new SocketTransportOptions(), pool);
            var listener = await factory.BindAsync(new IPEndPoint(IPAddress.Loopback, 0), Ct);
            var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            var accept = listener.AcceptAsync(Ct);
            await client.ConnectAsync(listener.EndPoint, Ct);
            var server = await accept.AsTask().WaitAsync(Timeout, Ct);
            Assert.NotNull(server);
            return new Pair(listener, server, client);
        }

        public async ValueTask DisposeAsync()
        {
            Client.Dispose();
            await Server.DisposeAsync();
            await _listener.DisposeAsync();
        }
    }
}
