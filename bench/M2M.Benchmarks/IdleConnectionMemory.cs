using System.Buffers;
using System.Net;
using System.Net.Sockets;
using M2M.Ingest.Hosting;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;

namespace M2M.Benchmarks;

/// <summary>
/// Managed heap held per idle connection of the device transport (<see cref="DeviceSocketTransportFactory"/>):
/// <c>dotnet run -c Release --project bench/M2M.Benchmarks -- idle-connections [count] [rounds] [hold seconds]</c>
/// (with a hold, the first round waits that long with its connections idle, for <c>dotnet-gcdump</c>);
/// <c>idle-connections exchanges [count]</c> measures the allocations of a read/answer exchange instead.
/// Each round accepts <c>count</c> loopback connections through the transport, does one exchange on each
/// (the device sends 16 bytes, the server reads them, answers 16 bytes and flushes) and leaves a read
/// pending, as a session does while its device is idle. Heap after a full GC with the connections idle,
/// minus the heap once the server's connections are disposed (the client sockets, in this process too,
/// stay open in both readings), divided by <c>count</c>: the server's bytes per idle connection.
/// </summary>
internal static class IdleConnectionMemory
{
    public static async Task RunAsync(string[] args)
    {
        if (args is [_, "exchanges", ..])
        {
            await ExchangesAsync(args);
            return;
        }
        var count = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 2000;
        var rounds = args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 5;
        var hold = TimeSpan.FromSeconds(args.Length > 3 ? int.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture) : 0);
        var factory = new DeviceSocketTransportFactory(new SocketTransportOptions(), MemoryPool<byte>.Shared);
        var listener = await factory.BindAsync(new IPEndPoint(IPAddress.Loopback, 0));
        // Warm-up round (JIT, pools, the runtime's socket engine), not reported.
        await RoundAsync(listener, Math.Min(count, 200), TimeSpan.Zero);
        var results = new List<double>();
        for (var round = 0; round < rounds; round++)
        {
            var perConnection = await RoundAsync(listener, count, round == 0 ? hold : TimeSpan.Zero);
            results.Add(perConnection);
            Console.WriteLine($"round {round + 1}: {perConnection:F0} B per idle connection ({count} connections)");
        }
        results.Sort();
        Console.WriteLine($"median: {results[results.Count / 2]:F0} B per idle connection");
        await listener.DisposeAsync();
    }

    private static async Task<double> RoundAsync(IConnectionListener listener, int count, TimeSpan hold)
    {
        var clients = new List<Socket>(count);
        var servers = new List<ConnectionContext>(count);
        var reads = new List<Task>(count);
        var request = new byte[16];
        var answer = new byte[16];
        for (var i = 0; i < count; i++)
        {
            var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            var accept = listener.AcceptAsync();
            await client.ConnectAsync(listener.EndPoint);
            var server = (await accept)!;
            clients.Add(client);
            servers.Add(server);

            await client.SendAsync(request);
            var input = server.Transport.Input;
            var result = await input.ReadAsync();
            while (result.Buffer.Length < request.Length)
            {
                input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
                result = await input.ReadAsync();
            }
            input.AdvanceTo(result.Buffer.End);
            await server.Transport.Output.WriteAsync(answer);
            for (var received = 0; received < answer.Length;)
            {
                received += await client.ReceiveAsync(answer.AsMemory(received));
            }
            // Idle: a read waits for the device's next bytes.
            reads.Add(input.ReadAsync().AsTask());
        }

        var withConnections = SettledHeap();
        if (hold > TimeSpan.Zero)
        {
            Console.WriteLine($"holding {count} idle connections for {hold.TotalSeconds:F0} s: dotnet-gcdump collect -p {Environment.ProcessId}");
            await Task.Delay(hold);
        }
        foreach (var server in servers)
        {
            server.Abort(new ConnectionAbortedException("done"));
        }
        await Task.WhenAll(reads);
        foreach (var server in servers)
        {
            await server.Transport.Input.CompleteAsync();
            await server.Transport.Output.CompleteAsync();
            await server.DisposeAsync();
        }
        servers.Clear();
        reads.Clear();
        var withoutConnections = SettledHeap();

        foreach (var client in clients)
        {
            client.Dispose();
        }
        return (withConnections - withoutConnections) / (double)count;
    }

    /// <summary>
    /// <c>idle-connections exchanges [count]</c>: one connection, <c>count</c> request/answer exchanges of
    /// 16 bytes each way through the transport's reader and writer (read, consume, answer, flush), as a
    /// session does for a device's pings; prints the bytes allocated per exchange (the whole process, the
    /// loopback client's side included) and the exchanges per second.
    /// </summary>
    public static async Task ExchangesAsync(string[] args)
    {
        var count = args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 50_000;
        var factory = new DeviceSocketTransportFactory(new SocketTransportOptions(), MemoryPool<byte>.Shared);
        var listener = await factory.BindAsync(new IPEndPoint(IPAddress.Loopback, 0));
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        var accept = listener.AcceptAsync();
        await client.ConnectAsync(listener.EndPoint);
        var server = (await accept)!;
        var serving = Task.Run(async () =>
        {
            var input = server.Transport.Input;
            var output = server.Transport.Output;
            while (true)
            {
                var result = await input.ReadAsync();
                var buffer = result.Buffer;
                while (buffer.Length >= 16)
                {
                    // The answer is the request back.
                    var answer = output.GetSpan(16);
                    buffer.Slice(0, 16).CopyTo(answer);
                    output.Advance(16);
                    buffer = buffer.Slice(16);
                }
                input.AdvanceTo(buffer.Start, result.Buffer.End);
                await output.FlushAsync();
                if (result.IsCompleted)
                {
                    return;
                }
            }
        });
        var request = new byte[16];
        var answer = new byte[16];
        for (var round = 0; round < 3; round++)
        {
            var allocated = GC.GetTotalAllocatedBytes(precise: true);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            for (var i = 0; i < count; i++)
            {
                await client.SendAsync(request.AsMemory());
                for (var received = 0; received < answer.Length;)
                {
                    received += await client.ReceiveAsync(answer.AsMemory(received));
                }
            }
            clock.Stop();
            var perExchange = (GC.GetTotalAllocatedBytes(precise: true) - allocated) / (double)count;
            Console.WriteLine($"round {round + 1}: {perExchange:F1} B allocated per exchange, {count / clock.Elapsed.TotalSeconds:F0} exchanges/s");
        }
        client.Shutdown(SocketShutdown.Send);
        await serving;
        await server.DisposeAsync();
        await listener.DisposeAsync();
    }

    private static long SettledHeap()
    {
        for (var i = 0; i < 3; i++)
        {
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }
        return GC.GetTotalMemory(forceFullCollection: true);
    }
}
