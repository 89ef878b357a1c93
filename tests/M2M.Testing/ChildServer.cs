using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Xunit;

namespace M2M.Testing;

/// <summary>
/// The real single-process server (<c>M2M.Server</c>) run as a child process from its app host (the one next
/// to the test's assembly when the test project references <c>M2M.Server</c> as an assembly, else the one
/// built in <c>src/M2M.Server/bin</c> of the same configuration): a test can kill it
/// (SIGKILL), lower its open-files limit or read its log. The caller's arguments choose free ports
/// (<c>--urls http://127.0.0.1:0</c>, <c>--M2M:Ingest:M2mpPort 0</c>…); the ports the server bound are read
/// from its log, which is read continuously (a full pipe would block the child) and kept for the test.
/// Disposing kills the child and deletes nothing: the data directory belongs to the caller.
/// </summary>
public sealed partial class ChildServer : IAsyncDisposable
{
    // What the readiness needs in the log, added after the caller's arguments so that they cannot turn it off.
    private static readonly string[] ReadinessLogging =
    [
        "--Logging:Console:FormatterOptions:SingleLine", "true",
        "--Logging:LogLevel:Microsoft.Hosting.Lifetime", "Information",
        "--Logging:LogLevel:M2M.Ingest.Hosting", "Information",
    ];

    private readonly Process _process;
    private readonly ConcurrentQueue<string> _log = new();
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _httpPort;
    private int _m2mpPort;
    private int _alipPort;

    private ChildServer(Process process) => _process = process;

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    public Uri Http => new($"http://127.0.0.1:{_httpPort}");

    public IPEndPoint M2mp => new(IPAddress.Loopback, _m2mpPort);

    public IPEndPoint Alip => new(IPAddress.Loopback, _alipPort);

    /// <summary>Every log line so far (console logger, one line per entry, exceptions on the following lines).</summary>
    public IReadOnlyList<string> Log => [.. _log];

    /// <summary>The log so far as one text (for failure messages).</summary>
    public string LogText => string.Join('\n', _log);

    /// <summary>Starts the server with <paramref name="args"/>; returns once it reported its HTTP and device listeners.</summary>
    /// <param name="args">The server's command line (the data directory, free ports, its settings).</param>
    /// <param name="workingDirectory">The child's working directory; the test's own when null.</param>
    /// <param name="openFilesLimit">When set, the child runs under <c>ulimit -n</c> of this value (soft and hard).</param>
    /// <param name="environment">Variables added to the child's environment.</param>
    public static async Task<ChildServer> StartAsync(IEnumerable<string> args, string? workingDirectory = null, int? openFilesLimit = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        var host = AppHost();
        var start = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (workingDirectory is not null)
        {
            start.WorkingDirectory = workingDirectory;
        }
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }
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
        foreach (var arg in args.Concat(ReadinessLogging))
        {
            start.ArgumentList.Add(arg);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("The server did not start.");
        var server = new ChildServer(process);
        process.OutputDataReceived += (_, e) => server.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => server.OnLine(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await server._ready.Task.WaitAsync(TimeSpan.FromSeconds(120), TestContext.Current.CancellationToken);
        }
        catch (TimeoutException)
        {
            await server.DisposeAsync();
            Assert.Fail($"The server did not report its listeners:\n{server.LogText}");
        }
        if (server._httpPort == 0 || server._m2mpPort == 0)
        {
            await server.DisposeAsync();
            Assert.Fail($"The server exited at start:\n{server.LogText}");
        }
        return server;
    }

    /// <summary>
    /// Runs the server with <paramref name="args"/> until it exits by itself (a start that fails); returns its exit
    /// code and everything it wrote. Fails the test when it is still running after <paramref name="timeout"/> (then killed).
    /// </summary>
    public static async Task<(int ExitCode, string Log)> RunToExitAsync(IEnumerable<string> args, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(AppHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        var log = new ConcurrentQueue<string>();
        using var process = Process.Start(start) ?? throw new InvalidOperationException("The server did not start.");
        process.OutputDataReceived += (_, e) => log.Enqueue(e.Data ?? "");
        process.ErrorDataReceived += (_, e) => log.Enqueue(e.Data ?? "");
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await process.WaitForExitAsync(TestContext.Current.CancellationToken).WaitAsync(timeout, TestContext.Current.CancellationToken);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
            Assert.Fail($"The server was still running after {timeout}:\n{string.Join('\n', log)}");
        }
        // The output is complete once WaitForExit (without a timeout) returns.
        process.WaitForExit();
        return (process.ExitCode, string.Join('\n', log));
    }

    /// <summary>The server's app host: beside the test when its assembly is there, else in the server project's own output.</summary>
    private static string AppHost()
    {
        var name = OperatingSystem.IsWindows() ? "M2M.Server.exe" : "M2M.Server";
        var testDirectory = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        if (File.Exists(Path.Combine(testDirectory.FullName, "M2M.Server.dll")))
        {
            return Path.Combine(testDirectory.FullName, name);
        }
        // A project reference without the assembly (ReferenceOutputAssembly=false) builds the server but copies only its app host.
        var (tfm, configuration) = (testDirectory.Name, testDirectory.Parent!.Name);
        var root = testDirectory;
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "M2M.Aspire.sln")))
        {
            root = root.Parent;
        }
        Assert.NotNull(root);
        var host = Path.Combine(root.FullName, "src", "M2M.Server", "bin", configuration, tfm, name);
        Assert.True(File.Exists(host), $"The server is not built at {host}.");
        return host;
    }

    /// <summary>SIGKILL: no shutdown code runs, nothing is flushed.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }
        await _process.WaitForExitAsync(CancellationToken.None);
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
        await KillAsync();
        _process.Dispose();
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            _ready.TrySetResult(); // exited: StartAsync sees the ports missing
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

    [GeneratedRegex(@"Now listening on: http://127\.0\.0\.1:(\d+)")]
    private static partial Regex HttpListening();

    [GeneratedRegex(@"Device listeners: M2MP on \S*:(\d+), ALIP on \S*:(\d+)")]
    private static partial Regex DeviceListeners();
}
