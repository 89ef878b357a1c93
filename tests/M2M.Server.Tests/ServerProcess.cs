using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;

namespace M2M.Server.Tests;

/// <summary>
/// The real server started as a child process (the <c>M2M.Server</c> app host copied next to the
/// tests), on free ports, optionally under a lowered open-files limit (<c>ulimit -n</c> through
/// bash). Its log is read continuously (a full pipe would block the child) and kept for the test.
/// Disposing kills the child (by its process id) and deletes nothing but what the caller owns.
/// </summary>
public sealed partial class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _log = new();
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _httpPort;
    private int _m2mpPort;
    private int _alipPort;

    private ServerProcess(Process process)
    {
        _process = process;
    }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    public Uri Http => new($"http://127.0.0.1:{_httpPort}");

    public IPEndPoint M2mp => new(IPAddress.Loopback, _m2mpPort);

    public IPEndPoint Alip => new(IPAddress.Loopback, _alipPort);

    /// <summary>Every log line so far (console logger, one line per entry, exceptions on the following lines).</summary>
    public IReadOnlyList<string> Log => [.. _log];

    /// <summary>Starts the server with <paramref name="args"/> added to the free-port defaults; waits for its listeners.</summary>
    /// <param name="dataDirectory">The data directory (owned by the caller).</param>
    /// <param name="openFilesLimit">When set, the child runs under <c>ulimit -n</c> of this value (soft and hard).</param>
    public static async Task<ServerProcess> StartAsync(string dataDirectory, int? openFilesLimit, params string[] args)
    {
        var host = Path.Combine(AppContext.BaseDirectory, OperatingSystem.IsWindows() ? "M2M.Server.exe" : "M2M.Server");
        Assert.True(File.Exists(host), $"The server app host is not built at {host}.");
        string[] serverArgs =
        [
            "--urls", "http://127.0.0.1:0",
            "--M2M:DataDirectory", dataDirectory,
            "--M2M:Ingest:M2mpPort", "0",
            "--M2M:Ingest:AlipPort", "0",
            "--M2M:Admin:Password", "fault-injection-password",
            "--Logging:Console:FormatterOptions:SingleLine", "true",
            "--Logging:LogLevel:Default", "Information",
            "--Logging:LogLevel:Microsoft.AspNetCore", "Warning",
            "--Logging:LogLevel:Microsoft.Hosting.Lifetime", "Information",
            "--Logging:LogLevel:M2M.Ingest.Sessions", "Warning",
            .. args,
        ];
        var start = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = dataDirectory,
        };
        if (openFilesLimit is { } limit)
        {
            start.FileName = "/bin/bash";
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add($"ulimit -n {limit.ToString(CultureInfo.InvariantCulture)} && exec \"$0\" \"$@\"");
            start.ArgumentList.Add(host);
        }
        else
        {
            start.FileName = host;
        }
        foreach (var arg in serverArgs)
        {
            start.ArgumentList.Add(arg);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("The server did not start.");
        var server = new ServerProcess(process);
        process.OutputDataReceived += (_, e) => server.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => server.OnLine(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await server._ready.Task.WaitAsync(TimeSpan.FromSeconds(90), TestContext.Current.CancellationToken);
        }
        catch (TimeoutException)
        {
            await server.DisposeAsync();
            Assert.Fail($"The server did not report its listeners:\n{string.Join('\n', server._log)}");
        }
        if (server._httpPort == 0 || server._m2mpPort == 0)
        {
            await server.DisposeAsync();
            Assert.Fail($"The server exited at start:\n{string.Join('\n', server._log)}");
        }
        return server;
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            _ready.TrySetResult(); // exited: StartAsync's caller sees it through HasExited
            return;
        }
        _log.Enqueue(line);
        if (HttpListening().Match(line) is { Success: true } http)
        {
            _httpPort = int.Parse(http.Groups[1].Value, CultureInfo.InvariantCulture);
        }
        else if (DeviceListeners().Match(line) is { Success: true } devices)
        {
            _m2mpPort = int.Parse(devices.Groups[1].Value, CultureInfo.InvariantCulture);
            _alipPort = int.Parse(devices.Groups[2].Value, CultureInfo.InvariantCulture);
        }
        if (_httpPort != 0 && _m2mpPort != 0)
        {
            _ready.TrySetResult();
        }
    }

    /// <summary>The child's resident memory (VmRSS), in bytes.</summary>
    public long ResidentBytes()
    {
        foreach (var line in File.ReadLines($"/proc/{Pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
            }
        }
        throw new InvalidOperationException("No VmRSS.");
    }

    /// <summary>The child's open file descriptors; -1 once it has exited.</summary>
    public int OpenFiles()
    {
        try
        {
            return Directory.GetFiles($"/proc/{Pid}/fd").Length;
        }
        catch (DirectoryNotFoundException)
        {
            return -1;
        }
    }

    /// <summary>Waits until a log line matches <paramref name="pattern"/>; returns it.</summary>
    public async Task<string> WaitForLogAsync(string pattern, TimeSpan timeout)
    {
        var regex = new Regex(pattern, RegexOptions.CultureInvariant);
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            if (_log.FirstOrDefault(regex.IsMatch) is { } line)
            {
                return line;
            }
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
        Assert.Fail($"No log line matched /{pattern}/ within {timeout}:\n{string.Join('\n', _log.TakeLast(50))}");
        return "";
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }
        await _process.WaitForExitAsync(CancellationToken.None);
        _process.Dispose();
    }

    [GeneratedRegex(@"Now listening on: http://127\.0\.0\.1:(\d+)")]
    private static partial Regex HttpListening();

    [GeneratedRegex(@"Device listeners: M2MP on \S*:(\d+), ALIP on \S*:(\d+)")]
    private static partial Regex DeviceListeners();
}

/// <summary>Tests that start heavy child servers and flood them run one at a time, apart from the rest.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ChildServerCollection
{
    public const string Name = "child servers";
}
