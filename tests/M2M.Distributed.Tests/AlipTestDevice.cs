using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace M2M.Distributed.Tests;

/// <summary>A device speaking ALIP over a real socket: identifies, sends timed records, waits for barriers.</summary>
public sealed class AlipTestDevice : IAsyncDisposable
{
    private readonly TcpClient _client;
    private readonly NetworkStream _stream;
    private readonly StreamReader _reader;
    private readonly ConcurrentQueue<string> _other = new();

    private AlipTestDevice(TcpClient client)
    {
        _client = client;
        _stream = client.GetStream();
        _reader = new StreamReader(_stream, Encoding.UTF8);
    }

    /// <summary>Lines that were not the answer being waited for (pushed commands, settings, pings…).</summary>
    public IReadOnlyCollection<string> OtherLines => _other;

    public static async Task<AlipTestDevice> ConnectAsync(int port, string ident, CancellationToken cancellationToken = default)
    {
        var client = new TcpClient { NoDelay = true };
        try
        {
            await client.ConnectAsync(IPAddress.Loopback, port, cancellationToken);
            var device = new AlipTestDevice(client);
            await device.SendAsync($"ID {ident}");
            if (await device.WaitForAsync(l => l.StartsWith("ID ", StringComparison.Ordinal), TimeSpan.FromSeconds(30)) != "ID 1")
            {
                throw new IOException($"Identification of {ident} refused.");
            }
            return device;
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    public async Task SendAsync(string lines)
    {
        var bytes = Encoding.UTF8.GetBytes(lines.EndsWith('\n') ? lines : lines + "\n");
        await _stream.WriteAsync(bytes);
    }

    /// <summary>Sends records <c>E &lt;time&gt; T &lt;value&gt;</c> (type <c>sen:temp</c>).</summary>
    public Task SendRecordsAsync(IEnumerable<long> times) =>
        SendAsync(string.Concat(times.Select(t => $"E {t} T {t % 1000}\n")));

    /// <summary>The barrier: <c>true</c> when the server answered <c>B token</c> within the timeout.</summary>
    public async Task<bool> BarrierAsync(long token, TimeSpan timeout)
    {
        try
        {
            await SendAsync($"A {token}");
            return await WaitForAsync(l => l == $"B {token}", timeout) is not null;
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>Reads until a line matches (returned), the connection closes or the time is up (<c>null</c>).</summary>
    public async Task<string?> WaitForAsync(Func<string, bool> match, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            while (await _reader.ReadLineAsync(cts.Token) is { } line)
            {
                if (match(line))
                {
                    return line;
                }
                _other.Enqueue(line);
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // Closed or timed out.
        }
        return null;
    }

    /// <summary>Whether the server closed the connection within the time.</summary>
    public async Task<bool> ClosedByServerAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            while (await _reader.ReadLineAsync(cts.Token) is { } line)
            {
                _other.Enqueue(line);
            }
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        catch (Exception e) when (e is IOException or SocketException)
        {
            return true;
        }
    }

    public ValueTask DisposeAsync()
    {
        _client.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>
/// Devices that keep their data until the server acknowledges it: each sends its records in
/// batches closed by a barrier, counts a batch acknowledged only when <c>B</c> comes back, and after
/// any failure reconnects (to the node <c>choosePort</c> names) and sends every unacknowledged
/// record again, with the same times. Records are <c>sen:temp</c> at distinct unix seconds.
/// </summary>
public sealed class DeviceFleet(int devices, int batch, Func<int, int> choosePort)
{
    private readonly long _baseTime = DateTimeOffset.UtcNow.AddDays(-2).ToUnixTimeSeconds();
    private readonly string _prefix = "flt" + Random.Shared.Next(100, 999);

    public int Devices { get; } = devices;

    /// <summary>Per device: times acknowledged by a barrier.</summary>
    public HashSet<long>[] Acknowledged { get; } = Enumerable.Range(0, devices).Select(_ => new HashSet<long>()).ToArray();

    /// <summary>Per device: every time ever sent.</summary>
    public HashSet<long>[] Sent { get; } = Enumerable.Range(0, devices).Select(_ => new HashSet<long>()).ToArray();

    /// <summary>Barriers that failed (timed out or the connection dropped).</summary>
    public int FailedBarriers => _failed;

    /// <summary>Barriers answered, all devices together.</summary>
    public int AnsweredBarriers => _answered;

    private int _failed;
    private int _answered;

    public string Ident(int device) => $"{_prefix}:dev{device:D5}";

    public long AcknowledgedCount => Acknowledged.Sum(a => { lock (a) { return (long)a.Count; } });

    /// <summary>Runs every device until <paramref name="stop"/> is cancelled, then once more until nothing is left unacknowledged (or <paramref name="drainTimeout"/>).</summary>
    public async Task RunAsync(CancellationToken stop, TimeSpan drainTimeout)
    {
        using var drain = new CancellationTokenSource();
        stop.Register(() => drain.CancelAfter(drainTimeout));
        await Task.WhenAll(Enumerable.Range(0, Devices).Select(d => Task.Run(() => RunDeviceAsync(d, stop, drain.Token))));
    }

    private async Task RunDeviceAsync(int device, CancellationToken stop, CancellationToken drain)
    {
        var pending = new List<long>();
        var next = _baseTime + (device * 1_000_000L);
        long token = 0;
        AlipTestDevice? connection = null;
        var attempt = 0;
        try
        {
            while (!drain.IsCancellationRequested && (!stop.IsCancellationRequested || pending.Count > 0))
            {
                if (connection is null)
                {
                    try
                    {
                        connection = await AlipTestDevice.ConnectAsync(choosePort(attempt++), Ident(device), drain);
                    }
                    catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
                    {
                        await Task.Delay(200, CancellationToken.None);
                        continue;
                    }
                }
                if (!stop.IsCancellationRequested)
                {
                    for (var i = 0; i < batch; i++)
                    {
                        pending.Add(next++);
                    }
                }
                lock (Sent[device])
                {
                    Sent[device].UnionWith(pending);
                }
                try
                {
                    await connection.SendRecordsAsync(pending);
                }
                catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
                {
                    await connection.DisposeAsync();
                    connection = null;
                    continue;
                }
                if (await connection.BarrierAsync(++token, TimeSpan.FromSeconds(30)))
                {
                    Interlocked.Increment(ref _answered);
                    lock (Acknowledged[device])
                    {
                        Acknowledged[device].UnionWith(pending);
                    }
                    pending.Clear();
                }
                else
                {
                    // Keep the data, reconnect, send it again.
                    Interlocked.Increment(ref _failed);
                    await connection.DisposeAsync();
                    connection = null;
                }
            }
        }
        finally
        {
            if (connection is not null)
            {
                await connection.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// Checks the stored records against what the devices know: every acknowledged record stored,
    /// each once, and nothing stored that was never sent.
    /// </summary>
    public async Task AssertStoredAsync(Cluster cluster, TimeSpan timeout)
    {
        for (var d = 0; d < Devices; d++)
        {
            HashSet<long> acknowledged, sent;
            lock (Acknowledged[d])
            {
                acknowledged = [.. Acknowledged[d]];
            }
            lock (Sent[d])
            {
                sent = [.. Sent[d]];
            }
            List<long> stored = [];
            var ident = Ident(d);
            await Cluster.EventuallyAsync(async () =>
            {
                stored = (await cluster.RecordsAsync(ident, "sen:temp")).Select(r => r.Time.ToUnixTimeSeconds()).ToList();
                return acknowledged.IsSubsetOf(stored);
            }, $"every acknowledged record of {ident} stored ({acknowledged.Count} acknowledged)", timeout);
            Assert.Equal(stored.Count, stored.Distinct().Count());
            Assert.Subset(sent, stored.ToHashSet());
        }
    }
}
