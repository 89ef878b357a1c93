using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace M2M.Operations.Tests;

/// <summary>A device speaking ALIP over a real socket: identifies, sends temperature records, waits for the barrier.</summary>
public sealed class AlipDevice : IAsyncDisposable
{
    private readonly TcpClient _client = new();
    private NetworkStream _stream = null!;
    private StreamReader _reader = null!;
    private int _barrier;

    private AlipDevice(string ident) => Ident = ident;

    public string Ident { get; }

    /// <summary>Connects and identifies as <paramref name="ident"/> (a random one by default), with <paramref name="secret"/> when given.</summary>
    public static async Task<AlipDevice> ConnectAsync(IPEndPoint alip, string? ident = null, string? secret = null)
    {
        var device = new AlipDevice(ident ?? $"imei:{Random.Shared.NextInt64(100_000_000_000, 999_999_999_999)}");
        await device._client.ConnectAsync(alip, TestContext.Current.CancellationToken);
        device._stream = device._client.GetStream();
        device._reader = new StreamReader(device._stream, Encoding.ASCII);
        await device.SendAsync(secret is null ? $"ID {device.Ident}\n" : $"ID {device.Ident} {secret}\n");
        return device;
    }

    private Task SendAsync(string text) => _stream.WriteAsync(Encoding.ASCII.GetBytes(text), TestContext.Current.CancellationToken).AsTask();

    /// <summary>Sends <paramref name="count"/> records (distinct values from <paramref name="start"/>) and returns once the server acknowledged them (barrier).</summary>
    public async Task SendRecordsAsync(int count, int start = 0)
    {
        var lines = new StringBuilder();
        for (var i = 0; i < count; i++)
        {
            lines.Append(CultureInfo.InvariantCulture, $"D T {(start + i) / 10.0:F1}\n");
        }
        var barrier = ++_barrier;
        lines.Append(CultureInfo.InvariantCulture, $"A {barrier}\n");
        await SendAsync(lines.ToString());
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        while (await _reader.ReadLineAsync(timeout.Token) is { } line)
        {
            Assert.DoesNotMatch("^(ERR|ID 0)", line);
            if (line == $"B {barrier}")
            {
                return;
            }
        }
        Assert.Fail("The connection closed before the barrier was answered.");
    }

    public ValueTask DisposeAsync()
    {
        _client.Dispose();
        return ValueTask.CompletedTask;
    }
}
