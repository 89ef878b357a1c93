using System.Buffers;
using System.Net.Sockets;
using System.Text;
using M2M.Ingest.M2mp;

namespace M2M.Ingest.Sessions.Tests;

/// <summary>A frame received from the server, decoded for assertions.</summary>
/// <param name="Kind">Frame kind.</param>
/// <param name="Value">N of a ping, OK of an identification result.</param>
/// <param name="Channel">Channel name of a data or array frame.</param>
/// <param name="Payload">Data payload.</param>
/// <param name="Items">Array items as text.</param>
public sealed record ServerFrame(M2mpFrameKind Kind, byte Value, string? Channel, byte[] Payload, string[] Items)
{
    public override string ToString() => Kind switch
    {
        M2mpFrameKind.Array => $"{Channel} [{string.Join(", ", Items.Select(i => $"\"{i}\""))}]",
        M2mpFrameKind.Data => $"{Channel} {Encoding.UTF8.GetString(Payload)}",
        _ => $"{Kind} {Value}",
    };
}

/// <summary>A scripted M2MP device over a real socket (the codec's writer and reader, server direction).</summary>
public sealed class M2mpDevice : IAsyncDisposable
{
    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);
    private readonly TcpClient _client;
    private readonly Stream _stream;
    private readonly M2mpReader _reader = new(M2mpSender.Server);
    private readonly M2mpReceiveChannels _fromServer = new();
    private readonly Dictionary<string, byte> _toServer = new(StringComparer.Ordinal);
    private ReadOnlyMemory<byte> _pending = ReadOnlyMemory<byte>.Empty;

    /// <summary>A device on <paramref name="client"/>; <paramref name="stream"/> replaces its network stream (e.g. a TLS stream over it).</summary>
    public M2mpDevice(TcpClient client, Stream? stream = null)
    {
        _client = client;
        _stream = stream ?? client.GetStream();
    }

    public async Task SendAsync(Action<IBufferWriter<byte>> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        write(buffer);
        await SendRawAsync(buffer.WrittenMemory.ToArray());
    }

    public async Task SendRawAsync(byte[] bytes)
    {
        await _stream.WriteAsync(bytes, TestContext.Current.CancellationToken);
        await _stream.FlushAsync(TestContext.Current.CancellationToken);
    }

    public Task SendIdentAsync(string ident) => SendAsync(o => M2mpWriter.WriteIdentification(o, Encoding.ASCII.GetBytes(ident)));

    /// <summary>Identifies, expects <c>01 01</c>.</summary>
    public async Task IdentifyAsync(string ident)
    {
        await SendIdentAsync(ident);
        var frame = await ReadAsync();
        Assert.Equal(M2mpFrameKind.IdentificationResult, frame!.Kind);
        Assert.Equal(1, frame.Value);
    }

    /// <summary>Identifies a device that has no capabilities nor settings yet: <c>01 01</c>, <c>_sta ["g","cap"]</c>, <c>_set ["ga"]</c>.</summary>
    public async Task IdentifyNewAsync(string ident)
    {
        await IdentifyAsync(ident);
        Assert.Equal("_sta [\"g\", \"cap\"]", (await ReadAsync())!.ToString());
        Assert.Equal("_set [\"ga\"]", (await ReadAsync())!.ToString());
    }

    /// <summary>The id of channel <paramref name="name"/>, defining it first when needed.</summary>
    private byte Channel(IBufferWriter<byte> output, string name)
    {
        if (!_toServer.TryGetValue(name, out var id))
        {
            id = (byte)_toServer.Count;
            _toServer[name] = id;
            M2mpWriter.WriteChannelDefinition(output, id, name);
        }
        return id;
    }

    public Task SendDataAsync(string channel, byte[] payload) => SendAsync(o => M2mpWriter.WriteData(o, Channel(o, channel), payload));

    public Task SendTextAsync(string channel, string text) => SendDataAsync(channel, Encoding.UTF8.GetBytes(text));

    public Task SendArrayAsync(string channel, params string[] items) => SendAsync(o => M2mpWriter.WriteArray(o, Channel(o, channel), items));

    public Task SendArrayAsync(string channel, ReadOnlyMemory<byte>[] items) => SendAsync(o => M2mpWriter.WriteArray(o, Channel(o, channel), items));

    /// <summary>Sends <c>02 n</c> and expects <c>02 n</c> back (the barrier).</summary>
    public async Task PingAsync(byte n)
    {
        await SendAsync(o => M2mpWriter.WriteDevicePing(o, n));
        var frame = await ReadAsync();
        Assert.True(frame is not null, $"The server closed the connection instead of answering ping {n}.");
        Assert.Equal(M2mpFrameKind.DevicePing, frame.Kind);
        Assert.Equal(n, frame.Value);
    }

    /// <summary>The next frame from the server (channel definitions are applied, not returned); <c>null</c> when closed.</summary>
    public async Task<ServerFrame?> ReadAsync(TimeSpan? timeout = null)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(timeout ?? DefaultTimeout);
        var chunk = new byte[64 * 1024];
        while (true)
        {
            if (TryParse(out var frame))
            {
                if (frame is null)
                {
                    continue;
                }
                return frame;
            }
            int n;
            try
            {
                n = await _stream.ReadAsync(chunk, cts.Token);
            }
            catch (IOException)
            {
                return null;
            }
            catch (OperationCanceledException) when (!TestContext.Current.CancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException("No frame from the server in time.");
            }
            if (n == 0)
            {
                return null;
            }
            var merged = new byte[_pending.Length + n];
            _pending.CopyTo(merged);
            chunk.AsSpan(0, n).CopyTo(merged.AsSpan(_pending.Length));
            _pending = merged;
        }
    }

    /// <summary><c>true</c> with a frame, or with <c>null</c> for a channel definition; <c>false</c> when more bytes are needed.</summary>
    private bool TryParse(out ServerFrame? frame)
    {
        frame = null;
        var sequence = new ReadOnlySequence<byte>(_pending);
        var consumed = sequence.Start;
        var examined = sequence.End;
        if (!_reader.TryParseMessage(sequence, ref consumed, ref examined, out var raw))
        {
            return false;
        }
        var length = (int)sequence.Slice(0, consumed).Length;
        switch (raw.Kind)
        {
            case M2mpFrameKind.ChannelDefinition:
                _fromServer.Define(raw);
                break;
            case M2mpFrameKind.Data:
                frame = new ServerFrame(raw.Kind, 0, _fromServer.GetName(raw.Channel), raw.Payload.ToArray(), []);
                break;
            case M2mpFrameKind.Array:
                var items = new List<string>();
                foreach (var item in raw.GetItems())
                {
                    items.Add(Encoding.UTF8.GetString(item.ToArray()));
                }
                frame = new ServerFrame(raw.Kind, 0, _fromServer.GetName(raw.Channel), [], [.. items]);
                break;
            default:
                frame = new ServerFrame(raw.Kind, raw.Value, null, [], []);
                break;
        }
        _pending = _pending[length..];
        return true;
    }

    /// <summary>Asserts nothing arrives within <paramref name="wait"/>.</summary>
    public async Task ExpectSilenceAsync(TimeSpan wait)
    {
        try
        {
            var frame = await ReadAsync(wait);
            Assert.Fail($"Expected silence, got {frame}.");
        }
        catch (TimeoutException)
        {
        }
    }

    /// <summary>Reads until the server closes the connection (fails after the timeout).</summary>
    public async Task<List<ServerFrame>> ReadUntilClosedAsync(TimeSpan? timeout = null)
    {
        var frames = new List<ServerFrame>();
        while (await ReadAsync(timeout) is { } frame)
        {
            frames.Add(frame);
        }
        return frames;
    }

    public ValueTask DisposeAsync()
    {
        _stream.Dispose();
        _client.Dispose();
        return ValueTask.CompletedTask;
    }
}
