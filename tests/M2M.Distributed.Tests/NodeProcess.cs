using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using M2M.Testing;

namespace M2M.Distributed.Tests;

/// <summary>
/// One role of the distributed topology (ingest node, API node, storage writer) run from its built
/// executable as a child process, configured by environment variables as an orchestrator would.
/// </summary>
public sealed class NodeProcess : IAsyncDisposable
{
    private readonly string _project;
    private readonly Dictionary<string, string> _environment;
    private readonly StringBuilder _log = new();
    private Process? _process;

    public NodeProcess(string name, string project, Dictionary<string, string> environment)
    {
        Name = name;
        _project = project;
        HttpPort = ServerProcess.FreePort();
        _environment = new Dictionary<string, string>(environment)
        {
            ["urls"] = $"http://127.0.0.1:{HttpPort}",
            ["DOTNET_ENVIRONMENT"] = "Production",
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["Logging__LogLevel__Default"] = "Warning",
            ["Logging__LogLevel__M2M"] = "Information",
            ["Logging__Console__FormatterName"] = "simple",
        };
    }

    public string Name { get; }

    public int HttpPort { get; }

    public Uri BaseAddress => new($"http://127.0.0.1:{HttpPort}");

    public int? M2mpPort => _environment.TryGetValue("M2M__Ingest__M2mpPort", out var p) ? int.Parse(p, CultureInfo.InvariantCulture) : null;

    public int? AlipPort => _environment.TryGetValue("M2M__Ingest__AlipPort", out var p) ? int.Parse(p, CultureInfo.InvariantCulture) : null;

    public bool IsRunning => _process is { HasExited: false };

    /// <summary>The last lines the process wrote (for failure messages).</summary>
    public string LogTail
    {
        get
        {
            lock (_log)
            {
                var text = _log.ToString();
                return text.Length > 6000 ? text[^6000..] : text;
            }
        }
    }

    /// <summary>Starts the process and waits until <c>/health</c> answers (and its device port accepts connections).</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        var dll = Path.Combine(RepositoryRoot, "src", _project, "bin", Configuration, "net10.0", _project + ".dll");
        if (!File.Exists(dll))
        {
            throw new InvalidOperationException($"{dll} is not built.");
        }
        if (!File.Exists(Path.Combine(Path.GetDirectoryName(dll)!, "M2M.Storage.Postgres.dll")))
        {
            // The roles run on the shared PostgreSQL backend (issue 11); a build without it cannot run a cluster.
            Assert.Skip($"{_project} is built without the PostgreSQL backend (M2M.Storage.Postgres).");
        }
        // The role's own directory as its working directory (its content root): its appsettings.json, not the one
        // the test's output directory happens to hold (copied from another role: the API node then listened for devices).
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(dll)!,
        };
        info.ArgumentList.Add(dll);
        foreach (var (key, value) in _environment)
        {
            info.Environment[key] = value;
        }
        var process = Process.Start(info) ?? throw new InvalidOperationException($"{_project} did not start.");
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;

        using var http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(3);
        while (true)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"{Name} exited with {process.ExitCode} at start:\n{LogTail}");
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{Name} did not become healthy:\n{LogTail}");
            }
            try
            {
                var response = await http.GetAsync("/health", cancellationToken);
                if (response.IsSuccessStatusCode && await PortOpenAsync(AlipPort, cancellationToken))
                {
                    return;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                // Not listening yet.
            }
            await Task.Delay(200, cancellationToken);
        }
    }

    /// <summary>
    /// kill -TERM, as an orchestrator stops a role: the host shuts down gracefully. Returns the exit code
    /// once the process has ended (fails the test if it does not end within <paramref name="timeout"/>).
    /// </summary>
    public async Task<int> StopAsync(TimeSpan timeout)
    {
        var process = _process ?? throw new InvalidOperationException($"{Name} was not started.");
        if (!process.HasExited)
        {
            using var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { "-TERM", process.Id.ToString(CultureInfo.InvariantCulture) } })!;
            await kill.WaitForExitAsync();
        }
        using var wait = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(wait.Token);
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"{Name} did not stop within {timeout} of SIGTERM:\n{LogTail}");
        }
        return process.ExitCode;
    }

    /// <summary>kill -9: nothing is flushed, acknowledged or closed politely.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process?.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_log)
        {
            _log.AppendLine(line);
            if (_log.Length > 200_000)
            {
                _log.Remove(0, 100_000);
            }
        }
    }

    private static async Task<bool> PortOpenAsync(int? port, CancellationToken cancellationToken)
    {
        if (port is not { } p)
        {
            return true;
        }
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, p, cancellationToken);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static string Configuration =>
        AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";

    private static string RepositoryRoot
    {
        get
        {
            for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
            {
                if (File.Exists(Path.Combine(directory.FullName, "M2M.Aspire.sln")))
                {
                    return directory.FullName;
                }
            }
            throw new InvalidOperationException("The repository root (M2M.Aspire.sln) is not above the test's folder.");
        }
    }
}
