using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using M2M.Testing;

namespace M2M.Storage.Postgres.Tests;

/// <summary>
/// A real <c>M2M.Server</c> process on PostgreSQL (<c>M2M:Storage:Backend=postgres</c>), on free loopback
/// ports, with its own data directory (keys only: the data is in the database). Killed (SIGKILL) on dispose.
/// </summary>
public sealed class ServerProcess : IAsyncDisposable
{
    public const string AdminPassword = "admin-secret-42";

    private readonly Process _process;
    private readonly TempDirectory _data;
    private readonly StringBuilder _output = new();

    private ServerProcess(Process process, TempDirectory data, int httpPort, int alipPort)
    {
        _process = process;
        _data = data;
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}") };
        AlipPort = alipPort;
    }

    public HttpClient Http { get; }

    public int AlipPort { get; }

    public bool HasExited => _process.HasExited;

    /// <summary>What the process printed (for failure messages).</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Starts the server; <see cref="WaitReadyAsync"/> tells when it serves.</summary>
    public static ServerProcess Start(string connectionString, string schema = "m2m", TempDirectory? data = null)
    {
        data ??= new TempDirectory("m2m-pg-server");
        var (http, m2mp, alip) = (FreePort(), FreePort(), FreePort());
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[]
        {
            ServerAssembly(), "--urls", $"http://127.0.0.1:{http}", "--M2M:DataDirectory", data.Path,
            "--M2M:Ingest:M2mpPort", $"{m2mp}", "--M2M:Ingest:AlipPort", $"{alip}",
            "--M2M:Storage:Backend", "postgres", "--ConnectionStrings:m2mdb", connectionString, "--M2M:Storage:Postgres:Schema", schema,
            "--M2M:Admin:Password", AdminPassword, "--M2M:Api:LoginAttemptsPerAddress", "100000",
            "--Logging:LogLevel:Default", "Warning",
        })
        {
            start.ArgumentList.Add(arg);
        }
        var process = Process.Start(start)!;
        var server = new ServerProcess(process, data, http, alip);
        process.OutputDataReceived += (_, e) => server.Append(e.Data);
        process.ErrorDataReceived += (_, e) => server.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return server;
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_output)
            {
                _output.AppendLine(line);
            }
        }
    }

    /// <summary>Waits until <c>/health</c> answers 200 (every check healthy, the schema migrated).</summary>
    public async Task WaitReadyAsync()
    {
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (true)
        {
            if (_process.HasExited)
            {
                Assert.Fail($"The server exited with {_process.ExitCode}:\n{Output}");
            }
            try
            {
                using var response = await Http.GetAsync("/health", TestContext.Current.CancellationToken);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"The server did not become healthy in time:\n{Output}");
            }
            await Task.Delay(200, TestContext.Current.CancellationToken);
        }
    }

    /// <summary>A client with an administrator's token of this server.</summary>
    public async Task<HttpClient> LoginAsync()
    {
        using var response = await Http.PostAsJsonAsync("/api/auth/token", new { user = "admin", password = AdminPassword }, TestContext.Current.CancellationToken);
        response.EnsureSuccessStatusCode();
        var token = (await response.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken)).GetProperty("access_token").GetString();
        var client = new HttpClient { BaseAddress = Http.BaseAddress };
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    /// <summary>Connects a device over ALIP.</summary>
    public async Task<AlipClient> ConnectAlipAsync()
    {
        var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, AlipPort, TestContext.Current.CancellationToken);
        return new AlipClient(client);
    }

    /// <summary>The equivalent of <c>kill -9</c>: no drain, no dispose.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }
        await _process.WaitForExitAsync(TestContext.Current.CancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
        _data.Dispose();
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>The built server beside this test's build: <c>src/M2M.Server/bin/&lt;Configuration&gt;/&lt;tfm&gt;/M2M.Server.dll</c>.</summary>
    private static string ServerAssembly()
    {
        var testDirectory = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var tfm = testDirectory.Name;
        var configuration = testDirectory.Parent!.Name;
        var root = testDirectory;
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "M2M.Aspire.sln")))
        {
            root = root.Parent;
        }
        Assert.NotNull(root);
        var path = Path.Combine(root.FullName, "src", "M2M.Server", "bin", configuration, tfm, "M2M.Server.dll");
        Assert.True(File.Exists(path), $"The server is not built at {path}.");
        return path;
    }
}

/// <summary>A device speaking ALIP lines over a real socket.</summary>
public sealed class AlipClient(TcpClient client) : IDisposable
{
    private readonly NetworkStream _stream = client.GetStream();
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;

    public async Task SendAsync(string text)
    {
        await _stream.WriteAsync(Encoding.UTF8.GetBytes(text), TestContext.Current.CancellationToken);
        await _stream.FlushAsync(TestContext.Current.CancellationToken);
    }

    /// <summary>The next line, or <c>null</c> when the server closed the connection.</summary>
    public async Task<string?> ReadLineAsync(TimeSpan? timeout = null)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(timeout ?? TimeSpan.FromSeconds(30));
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
            if (n == 0)
            {
                return null;
            }
            _end += n;
        }
    }

    /// <summary>Sends <c>ID ident</c> and returns the answer.</summary>
    public async Task<string?> IdentifyAsync(string ident)
    {
        await SendAsync($"ID {ident}\n");
        return await ReadLineAsync();
    }

    public void Dispose() => client.Dispose();
}
