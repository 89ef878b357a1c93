using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Xunit;

namespace M2M.Testing;

/// <summary>
/// A server binary (<c>nats-server</c>, <c>postgres</c>) run by a test as a child process on a free
/// loopback port, so the test can stop, kill and restart it without touching the shared services.
/// Skipped when the binary is missing (a failure when <c>M2M_REQUIRE_SERVICES=1</c>).
/// </summary>
public abstract class ServerProcess : IAsyncDisposable
{
    private Process? _process;

    protected ServerProcess(string prefix)
    {
        Directory = new TempDirectory(prefix);
        Port = FreePort();
    }

    public TempDirectory Directory { get; }

    public int Port { get; }

    public bool IsRunning => _process is { HasExited: false };

    /// <summary>Finds <paramref name="name"/> on PATH or in the usual directories, or skips the test.</summary>
    public static string FindBinary(string name, params string[] extraDirectories)
    {
        var path = Environment.GetEnvironmentVariable("PATH")?.Split(':') ?? [];
        foreach (var directory in path.Concat(["/usr/sbin", "/usr/bin", "/usr/local/bin"]).Concat(extraDirectories))
        {
            var candidate = Path.Combine(directory, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        var reason = $"{name} is not installed.";
        if (RequiredServices.Required)
        {
            Assert.Fail($"{reason} ({RequiredServices.RequireSwitch}=1 turns this skip into a failure.)");
        }
        Assert.Skip(reason);
        return null!;
    }

    /// <summary>A TCP port free on the loopback interface now, never one this test process handed out before.</summary>
    public static int FreePort() => FreePorts.Next();

    /// <summary>The command line of the server.</summary>
    protected abstract ProcessStartInfo StartInfo();

    /// <summary>Starts the server and waits until its port accepts connections.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        var info = StartInfo();
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.UseShellExecute = false;
        _process = Process.Start(info) ?? throw new InvalidOperationException($"{info.FileName} did not start.");
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"{info.FileName} exited with {_process.ExitCode} at start.");
            }
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, Port, cancellationToken);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(100, cancellationToken);
            }
        }
    }

    /// <summary>Kills the server at once (SIGKILL): nothing is flushed.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
        _process?.Dispose();
        _process = null;
    }

    public virtual async ValueTask DisposeAsync()
    {
        await KillAsync();
        Directory.Dispose();
        GC.SuppressFinalize(this);
    }
}

/// <summary>A <c>nats-server -js</c> of a test's own, with its store in a temporary directory.</summary>
public sealed class NatsServerProcess() : ServerProcess("m2m-nats")
{
    private readonly string _binary = FindBinary("nats-server");

    public string Url => $"nats://127.0.0.1:{Port}";

    protected override ProcessStartInfo StartInfo()
    {
        var info = new ProcessStartInfo(_binary);
        foreach (var arg in new[] { "-js", "-sd", Directory.Path, "-a", "127.0.0.1", "-p", Port.ToString(System.Globalization.CultureInfo.InvariantCulture) })
        {
            info.ArgumentList.Add(arg);
        }
        return info;
    }
}

/// <summary>
/// A PostgreSQL server of a test's own (<c>initdb</c> into a temporary directory, then
/// <c>postgres</c> on a free port), run as the <c>postgres</c> user when the test runs as root
/// (PostgreSQL refuses root). Stopping it with <see cref="ServerProcess.KillAsync"/> is a crash;
/// the cluster survives a restart.
/// </summary>
public sealed class PostgresServerProcess : ServerProcess
{
    public const string Password = "m2m-test";

    private readonly string _bin;
    private readonly bool _asPostgres = Environment.IsPrivilegedProcess;

    public PostgresServerProcess() : base("m2m-pg")
    {
        _bin = Path.GetDirectoryName(FindPostgresBinary())!;
        var cluster = Path.Combine(Directory.Path, "cluster");
        var passwordFile = Path.Combine(Directory.Path, "pw");
        File.WriteAllText(passwordFile, Password);
        if (_asPostgres)
        {
            Run("chown", ["-R", "postgres:postgres", Directory.Path]);
        }
        RunServerTool("initdb", ["-D", cluster, "-U", "postgres", "--pwfile", passwordFile, "-E", "UTF8", "--locale=C", "--auth-host=scram-sha-256", "--auth-local=trust"]);
        RunServerTool("postgres", ["--single", "-D", cluster, "postgres"], "CREATE DATABASE m2m;\n");
    }

    /// <summary>The Npgsql connection string of database <c>m2m</c>.</summary>
    public string ConnectionString => $"Host=127.0.0.1;Port={Port};Username=postgres;Password={Password};Database=m2m;Timeout=5";

    protected override ProcessStartInfo StartInfo() =>
        Command("postgres", ["-D", Path.Combine(Directory.Path, "cluster"), "-p", Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-h", "127.0.0.1", "-k", Directory.Path, "-c", "fsync=on"]);

    private static string FindPostgresBinary()
    {
        var debian = "/usr/lib/postgresql";
        var versions = System.IO.Directory.Exists(debian)
            ? System.IO.Directory.GetDirectories(debian).Select(d => Path.Combine(d, "bin")).Where(d => File.Exists(Path.Combine(d, "initdb"))).Order().ToArray()
            : [];
        return FindBinary("postgres", versions);
    }

    private ProcessStartInfo Command(string program, string[] args)
    {
        var path = Path.Combine(_bin, program);
        var info = _asPostgres ? new ProcessStartInfo("setpriv") : new ProcessStartInfo(path);
        foreach (var arg in _asPostgres ? ["--reuid=postgres", "--regid=postgres", "--init-groups", "--", path, .. args] : args)
        {
            info.ArgumentList.Add(arg);
        }
        return info;
    }

    private void RunServerTool(string program, string[] args, string? input = null)
    {
        var info = Command(program, args);
        Run(info, input);
    }

    private static void Run(string file, string[] args)
    {
        var info = new ProcessStartInfo(file);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        Run(info, null);
    }

    private static void Run(ProcessStartInfo info, string? input)
    {
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.RedirectStandardInput = input is not null;
        info.UseShellExecute = false;
        using var process = Process.Start(info)!;
        if (input is not null)
        {
            process.StandardInput.Write(input);
            process.StandardInput.Close();
        }
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{info.FileName} {string.Join(' ', info.ArgumentList)} failed ({process.ExitCode}): {error.Result}{output.Result}");
        }
    }
}
