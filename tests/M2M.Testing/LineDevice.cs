using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;
using Xunit;

namespace M2M.Testing;

/// <summary>
/// A minimal ALIP device over a real socket. Lines from the server are read in the background into a
/// queue, so that a test can wait for a line with a timeout, or check that none comes, without
/// abandoning a read half-way. Every line received is kept (<see cref="Received"/>).
/// </summary>
public sealed class LineDevice : IAsyncDisposable
{
    private readonly TcpClient _client;
    private readonly Stream _stream;
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();
    private readonly List<string> _received = [];
    private readonly Task _pump;

    private LineDevice(TcpClient client)
    {
        _client = client;
        _stream = client.GetStream();
        _pump = PumpAsync();
    }

    /// <summary>Every line received so far.</summary>
    public IReadOnlyList<string> Received
    {
        get
        {
            lock (_received)
            {
                return [.. _received];
            }
        }
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

    /// <summary>The next line; <c>null</c> when the server closed the connection or nothing came within <paramref name="timeout"/>.</summary>
    public async Task<string?> ReadLineAsync(TimeSpan timeout)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            return await _lines.Reader.WaitToReadAsync(cts.Token) && _lines.Reader.TryRead(out var line) ? line : null;
        }
        catch (OperationCanceledException) when (!TestContext.Current.CancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    /// <summary>Whether the server has closed the connection (every line before the close was read).</summary>
    public bool IsClosedByServer => _pump.IsCompleted && _lines.Reader.Count == 0;

    /// <summary>Reads lines until one matches; every line read is returned. Fails on close or timeout.</summary>
    public async Task<List<string>> ReadUntilAsync(Func<string, bool> match, TimeSpan timeout)
    {
        var lines = new List<string>();
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var left = deadline - DateTime.UtcNow;
            var line = left > TimeSpan.Zero ? await ReadLineAsync(left) : null;
            if (line is null)
            {
                Assert.Fail($"{(IsClosedByServer ? "The server closed the connection" : $"No matching line within {timeout}")}; got: {string.Join(" | ", lines)}");
            }
            lines.Add(line);
            if (match(line))
            {
                return lines;
            }
        }
    }

    private async Task PumpAsync()
    {
        try
        {
            using var reader = new StreamReader(_stream, Encoding.UTF8, leaveOpen: true);
            while (await reader.ReadLineAsync() is { } line)
            {
                lock (_received)
                {
                    _received.Add(line);
                }
                _lines.Writer.TryWrite(line);
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or SocketException)
        {
            // Reset or closed: the end of the stream as far as the test is concerned.
        }
        finally
        {
            _lines.Writer.TryComplete();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        await _pump;
    }
}
