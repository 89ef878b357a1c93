using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

/// <summary>
/// PostgreSQL and NATS run from the binaries installed on this machine (no container runtime
/// needed), with their data under the app host's data directory. PostgreSQL refuses to run as
/// root: when the app host is root, the server runs as the <c>postgres</c> user (through
/// <c>setpriv</c>, which replaces itself with the server, so stopping the resource stops it).
/// </summary>
internal static class LocalServers
{
    /// <summary>The <c>nats-server</c> binary, or <c>null</c>.</summary>
    public static string? FindNatsServer(IConfiguration configuration) =>
        configuration["M2M:Distributed:NatsServer"] is { Length: > 0 } configured ? configured : FindOnPath("nats-server");

    /// <summary>The directory holding <c>initdb</c> and <c>postgres</c>, or <c>null</c>.</summary>
    public static string? FindPostgresBin(IConfiguration configuration)
    {
        if (configuration["M2M:Distributed:PostgresBin"] is { Length: > 0 } configured)
        {
            return configured;
        }
        if (FindOnPath("initdb") is { } initdb && File.Exists(Path.Combine(Path.GetDirectoryName(initdb)!, "postgres")))
        {
            return Path.GetDirectoryName(initdb);
        }
        // Debian installs the server outside PATH, one directory per major version.
        const string debian = "/usr/lib/postgresql";
        if (!Directory.Exists(debian))
        {
            return null;
        }
        return Directory.GetDirectories(debian)
            .Select(d => Path.Combine(d, "bin"))
            .Where(d => File.Exists(Path.Combine(d, "initdb")) && File.Exists(Path.Combine(d, "postgres")))
            .OrderByDescending(d => int.TryParse(Path.GetFileName(Path.GetDirectoryName(d)), out var v) ? v : 0)
            .FirstOrDefault();
    }

    /// <summary>Marks <paramref name="ports"/> as taken (configured for another resource): <see cref="FreePort"/> never returns them.</summary>
    public static void Reserve(IEnumerable<int> ports) => global::M2M.FreePorts.Reserve(ports);

    /// <summary>A TCP port free on the loopback interface now, never one this process handed out or reserved before.</summary>
    public static int FreePort() => global::M2M.FreePorts.Next();

    /// <summary>
    /// <c>nats-server -js</c> on <paramref name="port"/> with its store in <paramref name="dataDirectory"/>;
    /// messages up to 8 MB (a record's data may be 1 MiB).
    /// </summary>
    public static IResourceBuilder<ExecutableResource> AddNatsServer(this IDistributedApplicationBuilder builder, string name, string binary, string dataDirectory, int port)
    {
        Directory.CreateDirectory(dataDirectory);
        var config = Path.Combine(dataDirectory, "nats.conf");
        File.WriteAllText(config, $$"""
            # Written by the M2M app host.
            listen: 127.0.0.1:{{port}}
            max_payload: 8MB
            jetstream {
              store_dir: "{{Path.Combine(dataDirectory, "jetstream")}}"
            }
            """);
        var check = $"{name}-port";
        builder.Services.AddHealthChecks().AddCheck(check, new TcpHealthCheck(port));
        return builder.AddExecutable(name, binary, dataDirectory, "-c", config)
            .WithHealthCheck(check)
            .ExcludeFromManifest();
    }

    /// <summary>
    /// <c>postgres</c> on <paramref name="port"/> over a cluster in <paramref name="dataDirectory"/>,
    /// created (with database <paramref name="database"/>) on first use. Returns the password of the
    /// <c>postgres</c> user, generated at creation and kept beside the cluster (mode 600).
    /// </summary>
    public static (IResourceBuilder<ExecutableResource> Server, string Password) AddPostgresServer(
        this IDistributedApplicationBuilder builder, string name, string binDirectory, string dataDirectory, int port, string database)
    {
        var cluster = Path.Combine(dataDirectory, "cluster");
        var passwordFile = Path.Combine(dataDirectory, "postgres-password");
        var asPostgres = Environment.IsPrivilegedProcess;
        if (!File.Exists(Path.Combine(cluster, "PG_VERSION")))
        {
            InitCluster(binDirectory, dataDirectory, cluster, passwordFile, database, asPostgres);
        }
        var password = File.ReadAllText(passwordFile).Trim();
        var postgres = Path.Combine(binDirectory, "postgres");
        string[] args = ["-D", cluster, "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-h", "127.0.0.1", "-k", Path.GetTempPath()];
        var check = $"{name}-port";
        builder.Services.AddHealthChecks().AddCheck(check, new TcpHealthCheck(port));
        var server = asPostgres
            ? builder.AddExecutable(name, "setpriv", dataDirectory, ["--reuid=postgres", "--regid=postgres", "--init-groups", "--", postgres, .. args])
            : builder.AddExecutable(name, postgres, dataDirectory, args);
        return (server.WithHealthCheck(check).ExcludeFromManifest(), password);
    }

    private static void InitCluster(string bin, string dataDirectory, string cluster, string passwordFile, string database, bool asPostgres)
    {
        Directory.CreateDirectory(dataDirectory);
        if (Directory.Exists(cluster))
        {
            // A creation that did not finish: start over.
            Directory.Delete(cluster, recursive: true);
        }
        Directory.CreateDirectory(cluster);
        var password = Convert.ToHexString(RandomNumberGenerator.GetBytes(24)).ToLowerInvariant();
        var initPassword = Path.Combine(cluster + ".pw");
        File.WriteAllText(initPassword, password);
        if (asPostgres)
        {
            Run("chown", ["-R", "postgres:postgres", cluster, initPassword]);
        }
        try
        {
            Run(bin, "initdb", ["-D", cluster, "-U", "postgres", "--pwfile", initPassword, "-E", "UTF8", "--locale=C",
                "--auth-local=scram-sha-256", "--auth-host=scram-sha-256"], asPostgres);
            Run(bin, "postgres", ["--single", "-D", cluster, "postgres"], asPostgres, $"CREATE DATABASE \"{database}\";\n");
        }
        finally
        {
            File.Delete(initPassword);
        }
        File.WriteAllText(passwordFile, password);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(passwordFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
    }

    private static void Run(string bin, string program, string[] args, bool asPostgres, string? input = null)
    {
        var path = Path.Combine(bin, program);
        if (asPostgres)
        {
            Run("setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", "--", path, .. args], input);
        }
        else
        {
            Run(path, args, input);
        }
    }

    private static void Run(string file, string[] args, string? input = null)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = input is not null, UseShellExecute = false };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"{file} did not start.");
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
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed ({process.ExitCode}): {error.Result}{output.Result}");
        }
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/sbin", "/usr/bin", "/usr/local/bin"])
            .Select(d => Path.Combine(d, name))
            .FirstOrDefault(File.Exists);

    /// <summary>Healthy once the port accepts a connection.</summary>
    private sealed class TcpHealthCheck(int port) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port, cancellationToken);
                return HealthCheckResult.Healthy();
            }
            catch (SocketException e)
            {
                return HealthCheckResult.Unhealthy($"Port {port} does not accept connections.", e);
            }
        }
    }
}
