using System.Net;
using System.Net.Sockets;
using System.Text;

namespace M2M.Server.Tests;

/// <summary>A minimal ALIP device over a real socket: send lines, read lines, with timeouts.</summary>
public sealed class LineDevice : IAsyncDisposable
{
    private readonly TcpClient _client;
    private readonly StreamReader _reader;
    private readonly Stream _stream;

    private LineDevice(TcpClient client)
    {
        _client = client;
        _stream = client.GetStream();
        _reader = new StreamReader(_stream, Encoding.UTF8);
    }

    public static async Task<LineDevice> ConnectAsync(IPEndPoint endPoint)
    {
        var client = new TcpClient();
        await client.ConnectAsync(endPoint, TestContext.Current.CancellationToken);
        return new LineDevice(client);
    }

    /// <summary>Connects and identifies as <paramref name="ident"/>; fails the test unless <c>ID 1</c> comes back.</summary>
    public static async Task<LineDevice> IdentifiedAsync(IPEndPoint endPoint, string ident)
    {
        var device = await ConnectAsync(endPoint);
        await device.SendAsync($"ID {ident}");
        await device.ReadUntilAsync(l => l == "ID 1", TimeSpan.FromSeconds(30));
        return device;
    }

    public async Task SendAsync(string line)
    {
        var bytes = Encoding.UTF8.GetBytes(line + "\n");
        await _stream.WriteAsync(bytes, TestContext.Current.CancellationToken);
    }

    /// <summary>The next line, or <c>null</c> when the server closed the connection.</summary>
    public async Task<string?> ReadLineAsync(TimeSpan timeout)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            return await _reader.ReadLineAsync(cts.Token);
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>Reads lines until one matches; every line read is returned. Fails on close or timeout.</summary>
    public async Task<List<string>> ReadUntilAsync(Func<string, bool> match, TimeSpan timeout)
    {
        var lines = new List<string>();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(timeout);
        while (true)
        {
            string? line;
            try
            {
                line = await _reader.ReadLineAsync(cts.Token);
            }
            catch (OperationCanceledException) when (!TestContext.Current.CancellationToken.IsCancellationRequested)
            {
                Assert.Fail($"No matching line within {timeout}; got: {string.Join(" | ", lines)}");
                throw;
            }
            if (line is null)
            {
                Assert.Fail($"The server closed the connection; got: {string.Join(" | ", lines)}");
            }
            lines.Add(line);
            if (match(line))
            {
                return lines;
            }
        }
    }

    public ValueTask DisposeAsync()
    {
        _reader.Dispose();
        _client.Dispose();
        return ValueTask.CompletedTask;
    }
}
