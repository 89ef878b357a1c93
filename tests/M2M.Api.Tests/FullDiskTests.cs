using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using M2M.Ingest.Hosting;
using M2M.Storage.Entities;
using M2M.Storage.Files;
using M2M.Storage.Registry;
using M2M.Storage.TimeSeries;
using M2M.Testing;
using static M2M.Api.Tests.Http;

namespace M2M.Api.Tests;

/// <summary>
/// The server on a disk that fills up (a real <c>tmpfs</c> where the test may mount one, else an
/// injected ENOSPC: each test prints which): devices are held back and keep their data, HTTP writes
/// answer 507, and everything resumes by itself once space returns.
/// </summary>
public sealed class FullDiskTests
{
    private static async Task<IPEndPoint> AlipAsync(ApiHost host)
    {
        var endpoints = host.Get<IngestEndpoints>();
        await endpoints.Started.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        return new IPEndPoint(IPAddress.Loopback, endpoints.Alip!.Port);
    }

    private static async Task<HttpStatusCode> HealthAsync(ApiHost host) => (await host.Anonymous.GetAsync("/health", Ct)).StatusCode;

    [Fact]
    public async Task A_full_disk_holds_devices_back_answers_507_and_ingest_resumes_by_itself_when_space_returns()
    {
        const int Records = 2_500;
        await using var disk = await FullDisk.CreateAsync(96L << 20);
        TestContext.Current.TestOutputHelper?.WriteLine($"Full disk: {disk.Mode}");
        await using var host = await ApiHost.StartAsync(disk.Data, disk.Configure, disk.ServerArgs(reservedFreeBytes: 8L << 20));
        var admin = await host.LoginAsync();
        const string Ident = "imei:350000000000042";
        await using var device = await LineDevice.IdentifiedAsync(await AlipAsync(host), Ident);
        await device.SendAsync("D T 20.0");
        await device.SendAsync("A 1");
        await device.ReadUntilAsync(l => l == "B 1", TimeSpan.FromSeconds(30));

        await disk.FillAsync();
        // Rounds of 7.5 MB, each more than one memtable: the first may still fit in space RocksDB's current
        // log file had preallocated before the disk filled (its size depends on where that file was), so
        // rounds go on until one is not acknowledged — the disk is then really full for the database.
        var value = new string('5', 3000);
        var sent = 0;
        var barrier = 1;
        string? answer;
        do
        {
            barrier++;
            for (var i = 0; i < Records; i++, sent++)
            {
                await device.SendAsync($"E {1_700_000_000 + sent} T {sent}.{value}");
            }
            await device.SendAsync($"A {barrier}");
            answer = await device.ReadLineAsync(TimeSpan.FromSeconds(5));
        }
        while (answer == $"B {barrier}" && barrier < 12);

        // Nothing is acknowledged while the records cannot be written; the device stays connected.
        Assert.Null(answer);
        Assert.False(device.IsClosedByServer);
        await Eventually(async () => await HealthAsync(host) == HttpStatusCode.ServiceUnavailable, "/health unhealthy while commits fail");
        // HTTP writes answer 507 with a problem document.
        var upload = await admin.PutAsync("/api/files/full/one.bin", new ByteArrayContent(new byte[64 * 1024]), Ct);
        await upload.AssertProblemAsync(507);
        if (disk.IsReal)
        {
            var domain = await admin.PostAsync("/api/domains", RawJson("""{"name":"full-disk"}"""), Ct);
            await domain.AssertProblemAsync(507);
        }

        await disk.FreeAsync();

        // The writer retries until RocksDB takes writes again; the barrier is answered, nothing was lost.
        await device.ReadUntilAsync(l => l == $"B {barrier}", TimeSpan.FromSeconds(90));
        await Eventually(async () => await HealthAsync(host) == HttpStatusCode.OK, "/health healthy again");
        Assert.DoesNotContain(device.Received, l => l.StartsWith("QUIT", StringComparison.Ordinal));
        var id = (await host.Get<IDeviceStore>().GetByIdentAsync(Ident, Ct))!.Id;
        var stored = 0;
        string? token = null;
        do
        {
            var page = await host.Get<ITimeSeriesStore>().QueryAsync(
                new TimeSeriesQuery($"dev-{id:D}", "sen:temp", Limit: TimeSeriesQuery.MaxLimit, Continuation: token), Ct);
            stored += page.Items.Count;
            token = page.Continuation;
        }
        while (token is not null);
        Assert.Equal(sent + 1, stored);
        if (disk.IsReal)
        {
            var again = await admin.PutAsync("/api/files/full/one.bin", new ByteArrayContent(new byte[64 * 1024]), Ct);
            Assert.Equal(HttpStatusCode.Created, again.StatusCode);
        }
    }

    [Fact]
    public async Task An_upload_larger_than_the_free_space_answers_507_without_stopping_ingest()
    {
        await using var disk = await FullDisk.CreateAsync(128L << 20);
        TestContext.Current.TestOutputHelper?.WriteLine($"Full disk: {disk.Mode}");
        await using var host = await ApiHost.StartAsync(disk.Data, disk.Configure, disk.ServerArgs(reservedFreeBytes: 32L << 20));
        var admin = await host.LoginAsync();
        await using var device = await LineDevice.IdentifiedAsync(await AlipAsync(host), "imei:350000000000043");

        // 200 MiB streamed: more than the disk holds. Sent over a plain socket: the server answers 507
        // and closes while the body is still coming, and HttpClient may report the reset of its send
        // instead of the answer that arrived before it (a race on a loaded machine).
        var (head, body) = await RawUploadAsync(host.Address, admin.DefaultRequestHeaders.Authorization!, "/api/files/big/too-big.bin", 200L << 20);
        Assert.StartsWith("HTTP/1.1 507 ", head, StringComparison.Ordinal);
        Assert.Contains("application/problem+json", head, StringComparison.OrdinalIgnoreCase);
        // The body may come in chunks (chunk sizes around the JSON).
        var json = body[body.IndexOf('{', StringComparison.Ordinal)..(body.LastIndexOf('}') + 1)];
        Assert.Equal(507, JsonDocument.Parse(json).RootElement.GetProperty("status").GetInt32());

        // Ingest goes on as if nothing happened.
        for (var round = 1; round <= 3; round++)
        {
            await device.SendAsync($"D T {round}");
            await device.SendAsync($"A {round}");
            await device.ReadUntilAsync(l => l == $"B {round}", TimeSpan.FromSeconds(60));
        }
        Assert.DoesNotContain(device.Received, l => l.StartsWith("QUIT", StringComparison.Ordinal));
        // The staged copy is gone and no file appeared.
        Assert.Empty(await host.Get<IRegistry>().GetChildrenAsync(UploadStaging.Folder, includeHidden: true, Ct));
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync("/api/files/big/too-big.bin", Ct)).StatusCode);
    }

    /// <summary>
    /// PUTs <paramref name="length"/> bytes in 1 MiB writes, stops writing when the server closes, then
    /// reads what it answered: the response head and body.
    /// </summary>
    private static async Task<(string Head, string Body)> RawUploadAsync(Uri address, AuthenticationHeaderValue auth, string path, long length)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(address.Host, address.Port, Ct);
        var stream = tcp.GetStream();
        var request = $"PUT {path} HTTP/1.1\r\nHost: {address.Authority}\r\nAuthorization: {auth}\r\n"
            + $"Content-Type: application/octet-stream\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request), Ct);
        var chunk = new byte[1 << 20];
        using var source = new PatternStream(length);
        try
        {
            int n;
            while ((n = source.Read(chunk, 0, chunk.Length)) > 0)
            {
                await stream.WriteAsync(chunk.AsMemory(0, n), Ct);
            }
        }
        catch (IOException)
        {
            // The server answered and closed before the whole body was sent.
        }
        var received = new MemoryStream();
        var buffer = new byte[8192];
        try
        {
            int read;
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(60));
            while ((read = await stream.ReadAsync(buffer, timeout.Token)) > 0)
            {
                received.Write(buffer, 0, read);
                if (Complete(received.ToArray()))
                {
                    break;
                }
            }
        }
        catch (IOException)
        {
            // A reset after the answer: what was received before it is kept.
        }
        var text = Encoding.UTF8.GetString(received.ToArray());
        var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        Assert.True(end >= 0, $"no complete response head from the server; got: {text}");
        return (text[..end], text[(end + 4)..]);

        static bool Complete(byte[] bytes)
        {
            var t = Encoding.UTF8.GetString(bytes);
            var end = t.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (end < 0)
            {
                return false;
            }
            if (t.EndsWith("\r\n0\r\n\r\n", StringComparison.Ordinal))
            {
                // The last chunk of a chunked body.
                return true;
            }
            var header = t[..end].Split("\r\n").FirstOrDefault(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase));
            return header is not null && bytes.Length - Encoding.UTF8.GetByteCount(t[..(end + 4)]) >= int.Parse(header["Content-Length:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
        }
    }

    private static async Task Eventually(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"Not within 60 s: {what}");
            await Task.Delay(200, Ct);
        }
    }

    /// <summary>A long, non-repeating stream of bytes produced as it is read.</summary>
    private sealed class PatternStream(long length) : Stream
    {
        private long _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => length;

        public override long Position
        {
            get => _position;
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = (int)Math.Min(count, length - _position);
            for (var i = 0; i < n; i++)
            {
                buffer[offset + i] = (byte)((_position + i) * 2654435761 >> 13);
            }
            _position += n;
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
