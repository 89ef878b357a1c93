using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using M2M.Ingest.Hosting;
using M2M.Ingest.M2mp;
using M2M.Server;
using M2M.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace M2M.Console.Tests;

/// <summary>The real single-process server on free loopback ports with a fresh data directory.</summary>
public sealed class ConsoleHost : IAsyncDisposable
{
    public const string AdminPassword = "admin-secret-42";

    private readonly TempDirectory _data;

    private ConsoleHost(WebApplication app, TempDirectory data, Uri address)
    {
        App = app;
        _data = data;
        Address = address;
    }

    public WebApplication App { get; }

    public Uri Address { get; }

    public T Get<T>() where T : notnull => App.Services.GetRequiredService<T>();

    public static async Task<ConsoleHost> StartAsync(params string[] extraArgs)
    {
        var data = new TempDirectory("m2m-console");
        try
        {
            string[] args =
            [
                "--urls", "http://127.0.0.1:0",
                "--M2M:DataDirectory", data.Path,
                "--M2M:Ingest:M2mpPort", "0",
                "--M2M:Ingest:AlipPort", "0",
                "--M2M:Admin:Password", AdminPassword,
                "--M2M:Api:LoginAttemptsPerAddress", "100000",
                "--Logging:LogLevel:Default", "Warning",
                .. extraArgs,
            ];
            var app = M2MServer.Build(args);
            try
            {
                await app.StartAsync(TestContext.Current.CancellationToken);
            }
            catch
            {
                // A refused start (some tests expect one): what it began stops, then the database closes.
                await HostRunner.ReleaseAfterFailedStartAsync(app);
                throw;
            }
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            return new ConsoleHost(app, data, new Uri(address));
        }
        catch
        {
            data.Dispose();
            throw;
        }
    }

    /// <summary>An HTTP client of <paramref name="user"/> (for arranging what the browser then shows).</summary>
    public async Task<HttpClient> LoginAsync(string user = "admin", string password = AdminPassword)
    {
        using var anonymous = new HttpClient { BaseAddress = Address };
        var response = await anonymous.PostAsJsonAsync("/api/auth/token", new { user, password }, TestContext.Current.CancellationToken);
        response.EnsureSuccessStatusCode();
        var token = (await response.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken)).GetProperty("access_token").GetString();
        var client = new HttpClient { BaseAddress = Address };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    public async Task<IPEndPoint> AlipEndpointAsync()
    {
        var endpoints = Get<IngestEndpoints>();
        await endpoints.Started.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        return new IPEndPoint(IPAddress.Loopback, endpoints.Alip!.Port);
    }

    public async Task<IPEndPoint> M2mpEndpointAsync()
    {
        var endpoints = Get<IngestEndpoints>();
        await endpoints.Started.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        return new IPEndPoint(IPAddress.Loopback, endpoints.M2mp!.Port);
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
        _data.Dispose();
    }
}

/// <summary>A device speaking ALIP over a real socket: lines out, lines awaited.</summary>
public sealed class AlipDevice : IAsyncDisposable
{
    private readonly TcpClient _client;
    private readonly NetworkStream _stream;
    private readonly StreamReader _reader;

    private AlipDevice(TcpClient client)
    {
        _client = client;
        _stream = client.GetStream();
        _reader = new StreamReader(_stream, Encoding.ASCII);
    }

    public static async Task<AlipDevice> ConnectAsync(ConsoleHost host)
    {
        var client = new TcpClient();
        await client.ConnectAsync(await host.AlipEndpointAsync(), TestContext.Current.CancellationToken);
        return new AlipDevice(client);
    }

    public async Task SendAsync(string line) => await _stream.WriteAsync(Encoding.ASCII.GetBytes(line + "\n"), TestContext.Current.CancellationToken);

    /// <summary>Reads lines until one matches; fails after 30 s with what was read.</summary>
    public async Task<string> ExpectAsync(Func<string, bool> match, string what)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(TimeSpan.FromSeconds(30));
        var seen = new List<string>();
        try
        {
            while (await _reader.ReadLineAsync(cts.Token) is { } line)
            {
                if (match(line))
                {
                    return line;
                }
                seen.Add(line);
            }
        }
        catch (OperationCanceledException) when (!TestContext.Current.CancellationToken.IsCancellationRequested)
        {
        }
        Assert.Fail($"expected {what}; got: {string.Join(" | ", seen)}");
        return null!;
    }

    /// <summary>Identifies; the records sent before <see cref="BarrierAsync"/> are stored once it returns.</summary>
    public async Task IdentifyAsync(string ident)
    {
        await SendAsync($"ID {ident}");
        await ExpectAsync(l => l == "ID 1", "ID 1");
    }

    /// <summary>The delivery barrier: every record sent before is durable when <c>B</c> comes back.</summary>
    public async Task BarrierAsync(string token = "1")
    {
        await SendAsync($"A {token}");
        await ExpectAsync(l => l == $"B {token}", $"B {token}");
    }

    public ValueTask DisposeAsync()
    {
        _reader.Dispose();
        _client.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>A device speaking M2MP over a real socket (the codec's own writer and reader).</summary>
public sealed class M2mpDevice : IAsyncDisposable
{
    private readonly TcpClient _client;
    private readonly NetworkStream _stream;
    private readonly M2mpReader _reader = new(M2mpSender.Server);
    private readonly M2mpReceiveChannels _fromServer = new();
    private readonly Dictionary<string, byte> _channels = new(StringComparer.Ordinal);
    private byte[] _pending = [];

    private M2mpDevice(TcpClient client)
    {
        _client = client;
        _stream = client.GetStream();
    }

    public static async Task<M2mpDevice> ConnectAsync(ConsoleHost host)
    {
        var client = new TcpClient();
        await client.ConnectAsync(await host.M2mpEndpointAsync(), TestContext.Current.CancellationToken);
        return new M2mpDevice(client);
    }

    private async Task SendAsync(Action<IBufferWriter<byte>> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        write(buffer);
        await _stream.WriteAsync(buffer.WrittenMemory, TestContext.Current.CancellationToken);
    }

    private byte Channel(IBufferWriter<byte> output, string name)
    {
        if (!_channels.TryGetValue(name, out var id))
        {
            id = (byte)_channels.Count;
            _channels[name] = id;
            M2mpWriter.WriteChannelDefinition(output, id, name);
        }
        return id;
    }

    public async Task IdentifyAsync(string ident)
    {
        await SendAsync(o => M2mpWriter.WriteIdentification(o, Encoding.ASCII.GetBytes(ident)));
        var (kind, value) = await ReadAsync(k => k == M2mpFrameKind.IdentificationResult);
        Assert.Equal(M2mpFrameKind.IdentificationResult, kind);
        Assert.Equal(1, value);
    }

    /// <summary><c>sen:loc</c>: u32 time, f32 lat, f32 lon, u16 speed (big-endian).</summary>
    public Task SendLocationAsync(DateTimeOffset time, float lat, float lon, ushort speed)
    {
        var payload = new byte[14];
        BinaryPrimitives.WriteUInt32BigEndian(payload, (uint)time.ToUnixTimeSeconds());
        BinaryPrimitives.WriteSingleBigEndian(payload.AsSpan(4), lat);
        BinaryPrimitives.WriteSingleBigEndian(payload.AsSpan(8), lon);
        BinaryPrimitives.WriteUInt16BigEndian(payload.AsSpan(12), speed);
        return SendAsync(o => M2mpWriter.WriteData(o, Channel(o, "sen:loc"), payload));
    }

    public Task SendTextAsync(string channel, string text) => SendAsync(o => M2mpWriter.WriteData(o, Channel(o, channel), Encoding.UTF8.GetBytes(text)));

    /// <summary><c>02 n</c> answered with <c>02 n</c> once everything sent before is durable.</summary>
    public async Task BarrierAsync(byte n)
    {
        await SendAsync(o => M2mpWriter.WriteDevicePing(o, n));
        var (_, value) = await ReadAsync(k => k == M2mpFrameKind.DevicePing);
        Assert.Equal(n, value);
    }

    /// <summary>Reads frames until one of the wanted kind (others, e.g. the server's pushes, are skipped).</summary>
    private async Task<(M2mpFrameKind Kind, byte Value)> ReadAsync(Func<M2mpFrameKind, bool> wanted)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(TimeSpan.FromSeconds(30));
        var chunk = new byte[64 * 1024];
        while (true)
        {
            while (TryParse(out var kind, out var value))
            {
                if (wanted(kind))
                {
                    return (kind, value);
                }
            }
            var n = await _stream.ReadAsync(chunk, cts.Token);
            if (n == 0)
            {
                throw new IOException("The server closed the connection.");
            }
            _pending = [.. _pending, .. chunk.AsSpan(0, n)];
        }
    }

    private bool TryParse(out M2mpFrameKind kind, out byte value)
    {
        kind = default;
        value = 0;
        var sequence = new ReadOnlySequence<byte>(_pending);
        var consumed = sequence.Start;
        var examined = sequence.End;
        if (!_reader.TryParseMessage(sequence, ref consumed, ref examined, out var frame))
        {
            return false;
        }
        kind = frame.Kind;
        value = frame.Value;
        if (frame.Kind == M2mpFrameKind.ChannelDefinition)
        {
            _fromServer.Define(frame);
        }
        _pending = _pending[(int)sequence.Slice(0, consumed).Length..];
        return true;
    }

    public ValueTask DisposeAsync()
    {
        _client.Dispose();
        return ValueTask.CompletedTask;
    }
}
