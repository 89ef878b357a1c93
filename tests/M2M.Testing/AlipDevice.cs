using System.Net.Sockets;
using System.Text;
using Xunit;

namespace M2M.Testing;

/// <summary>A scripted ALIP device over a real socket.</summary>
public sealed class AlipDevice : IAsyncDisposable
{
    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);
    private readonly TcpClient _client;
    private readonly Stream _stream;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;

    /// <summary>A device on <paramref name="client"/>; <paramref name="stream"/> replaces its network stream (e.g. a TLS stream over it).</summary>
    public AlipDevice(TcpClient client, Stream? stream = null)
    {
        _client = client;
        _stream = stream ?? client.GetStream();
    }

    public Task SendAsync(string line) => SendRawAsync(Encoding.UTF8.GetBytes(line + "\n"));

    /// <summary>Sends <paramref name="text"/> as it is (lines with their newlines).</summary>
    public Task SendTextAsync(string text) => SendRawAsync(Encoding.UTF8.GetBytes(text));

    public async Task SendRawAsync(byte[] bytes)
    {
        await _stream.WriteAsync(bytes, TestContext.Current.CancellationToken);
        await _stream.FlushAsync(TestContext.Current.CancellationToken);
    }

    /// <summary>The next line from the server, or <c>null</c> when the server closed the connection.</summary>
    public async Task<string?> ReadLineAsync(TimeSpan? timeout = null)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(timeout ?? DefaultTimeout);
        while (true)
        {
            var newline = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
            if (newline >= 0)
            {
                var line = Encoding.UTF8.GetString(_buffer, _start, newline - _start);
                _start = newline + 1;
                return line;
            }
            if (_start > 0)
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }
            int n;
            try
            {
                n = await _stream.ReadAsync(_buffer.AsMemory(_end), cts.Token);
            }
            catch (IOException)
            {
                return null;
            }
            catch (OperationCanceledException) when (!TestContext.Current.CancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException("No line from the server in time.");
            }
            if (n == 0)
            {
                return null;
            }
            _end += n;
        }
    }

    /// <summary>Sends <paramref name="line"/> and returns the answer line.</summary>
    public async Task<string?> AskAsync(string line)
    {
        await SendAsync(line);
        return await ReadLineAsync();
    }

    public async Task ExpectAsync(string expected) => Assert.Equal(expected, await ReadLineAsync());

    /// <summary>Identifies and reads <c>ID 1</c>.</summary>
    public async Task IdentifyAsync(string ident) => Assert.Equal("ID 1", await AskAsync($"ID {ident}"));

    /// <summary>Asserts nothing arrives within <paramref name="wait"/>.</summary>
    public async Task ExpectSilenceAsync(TimeSpan wait)
    {
        try
        {
            var line = await ReadLineAsync(wait);
            Assert.Fail($"Expected silence, got \"{line}\".");
        }
        catch (TimeoutException)
        {
        }
    }

    /// <summary>Runs the barrier <c>A token</c> → <c>B token</c>.</summary>
    public async Task BarrierAsync(string token = "1") => Assert.Equal($"B {token}", await AskAsync($"A {token}"));

    /// <summary>Reads until the server closes the connection; returns the lines read before.</summary>
    public async Task<List<string>> ReadUntilClosedAsync(TimeSpan? timeout = null)
    {
        var lines = new List<string>();
        while (await ReadLineAsync(timeout) is { } line)
        {
            lines.Add(line);
        }
        return lines;
    }

    public ValueTask DisposeAsync()
    {
        _stream.Dispose();
        _client.Dispose();
        return ValueTask.CompletedTask;
    }
}
