using System.Net;
using System.Net.Sockets;

namespace M2M.Ingest.Sessions.Tests;

/// <summary>Two ends of a real loopback TCP connection: the server's (non-blocking, as the device transport sets it) and the client's.</summary>
internal sealed class ConnectedSockets : IDisposable
{
    private ConnectedSockets(Socket server, Socket client)
    {
        Server = server;
        Client = client;
    }

    public Socket Server { get; }

    public Socket Client { get; }

    public static async Task<ConnectedSockets> OpenAsync(CancellationToken cancellationToken)
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        var accept = listener.AcceptAsync(cancellationToken);
        await client.ConnectAsync(listener.LocalEndPoint!, cancellationToken);
        var server = await accept;
        server.NoDelay = true;
        server.Blocking = false;
        return new ConnectedSockets(server, client);
    }

    /// <summary>Receives exactly <paramref name="count"/> bytes on the client.</summary>
    public async Task<byte[]> ReceiveAsync(int count, CancellationToken cancellationToken)
    {
        var buffer = new byte[count];
        var received = 0;
        while (received < count)
        {
            var n = await Client.ReceiveAsync(buffer.AsMemory(received), cancellationToken);
            if (n == 0)
            {
                throw new EndOfStreamException($"The connection ended after {received} of {count} bytes.");
            }
            received += n;
        }
        return buffer;
    }

    public void Dispose()
    {
        Client.Dispose();
        Server.Dispose();
    }
}
