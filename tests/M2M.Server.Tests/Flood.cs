using System.Net;
using System.Net.Sockets;

namespace M2M.Server.Tests;

/// <summary>Many raw TCP connections to one listener, opened in parallel and held open until disposed.</summary>
public sealed class Flood : IDisposable
{
    private readonly List<Socket> _sockets = [];

    /// <summary>Connections reset or refused while connecting (a server closing at once may beat the handshake's end).</summary>
    public int ConnectResets { get; private set; }

    /// <summary>Connections that got no answer within the connect timeout.</summary>
    public int ConnectTimeouts { get; private set; }

    public int Count => _sockets.Count;

    /// <summary>Opens <paramref name="count"/> connections, <paramref name="parallel"/> at a time, each given <paramref name="connectTimeout"/>.</summary>
    public static async Task<Flood> OpenAsync(IPEndPoint target, int count, int parallel = 100, TimeSpan? connectTimeout = null)
    {
        var flood = new Flood();
        var timeout = connectTimeout ?? TimeSpan.FromSeconds(5);
        for (var done = 0; done < count; done += parallel)
        {
            var batch = await Task.WhenAll(Enumerable.Range(0, Math.Min(parallel, count - done)).Select(async _ =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                using var cts = new CancellationTokenSource(timeout);
                try
                {
                    await socket.ConnectAsync(target, cts.Token);
                    return ((Socket?)socket, (bool?)null);
                }
                catch (SocketException)
                {
                    socket.Dispose();
                    return ((Socket?)null, (bool?)false);
                }
                catch (OperationCanceledException)
                {
                    socket.Dispose();
                    return ((Socket?)null, (bool?)true);
                }
            }));
            foreach (var (socket, timedOut) in batch)
            {
                if (socket is not null)
                {
                    flood._sockets.Add(socket);
                }
                else if (timedOut == true)
                {
                    flood.ConnectTimeouts++;
                }
                else
                {
                    flood.ConnectResets++;
                }
            }
        }
        return flood;
    }

    /// <summary>Sends <paramref name="bytes"/> on every connection still open (errors of closed ones are ignored).</summary>
    public async Task SendAsync(ReadOnlyMemory<byte> bytes)
    {
        await Task.WhenAll(_sockets.Select(async socket =>
        {
            try
            {
                await socket.SendAsync(bytes, SocketFlags.None);
            }
            catch (SocketException)
            {
                // Closed by the server: counted by ClosedByServer.
            }
        }));
    }

    /// <summary>How many of the connections the server has closed (end of stream or reset).</summary>
    public int ClosedByServer()
    {
        var closed = 0;
        foreach (var socket in _sockets)
        {
            try
            {
                if (socket.Poll(0, SelectMode.SelectRead) && socket.Available == 0)
                {
                    closed++;
                }
            }
            catch (SocketException)
            {
                closed++;
            }
            catch (ObjectDisposedException)
            {
                closed++;
            }
        }
        return closed;
    }

    public void Dispose()
    {
        foreach (var socket in _sockets)
        {
            socket.Dispose();
        }
        _sockets.Clear();
    }
}
