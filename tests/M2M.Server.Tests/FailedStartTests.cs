using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using M2M.Storage.Rocks;
using M2M.Testing;
using Microsoft.Extensions.Logging;

namespace M2M.Server.Tests;

/// <summary>
/// A server whose start fails exits cleanly: <see cref="HostRunner"/> logs why, stops what the start
/// began, closes the database and returns exit code 1 (the real process: no abort, code 134, on an
/// unhandled exception).
/// </summary>
public sealed class FailedStartTests
{
    public static TheoryData<string> Failures => ["m2mp-port-taken", "http-port-taken", "tls-certificate-missing", "invalid-setting"];

    [Theory]
    [MemberData(nameof(Failures))]
    public async Task A_failed_start_logs_why_closes_the_database_and_returns_exit_code_1(string failure)
    {
        using var data = new TempDirectory("m2m-failstart");
        using var taken = Listen();
        var log = new CollectingLoggerProvider();

        var exitCode = await HostRunner.RunAsync(() => M2MServer.Build(Arguments(failure, data.Path, taken), b => b.Logging.AddProvider(log)));

        Assert.Equal(HostRunner.FailureExitCode, exitCode);
        var critical = Assert.Single(log.Entries, e => e.Category == HostRunner.LogCategory && e.Level == LogLevel.Critical);
        Assert.Contains(ExpectedReason(failure), critical.Message, StringComparison.Ordinal);
        // RocksDB refuses a second open of a database this process still holds.
        var db = Path.Combine(data.Path, "db");
        if (Directory.Exists(db))
        {
            RocksStore.Open(db).Dispose();
        }
    }

    [Theory]
    [MemberData(nameof(Failures))]
    public async Task The_server_process_whose_start_fails_exits_with_code_1_and_logs_why(string failure)
    {
        using var data = new TempDirectory("m2m-failstart");
        using var taken = Listen();

        var (exitCode, log) = await ChildServer.RunToExitAsync([.. Arguments(failure, data.Path, taken), "--M2M:Admin:Password", "failed-start-password"], TimeSpan.FromSeconds(120));

        Assert.True(exitCode == HostRunner.FailureExitCode, $"Exit code {exitCode}, not {HostRunner.FailureExitCode}:\n{log}");
        Assert.Contains("The server did not start", log, StringComparison.Ordinal);
        Assert.Contains(ExpectedReason(failure), log, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_server_that_cannot_be_configured_returns_exit_code_1()
    {
        var exitCode = await HostRunner.RunAsync(() => M2MServer.Build(["--M2M:Storage:Backend", "floppy"]));

        Assert.Equal(HostRunner.FailureExitCode, exitCode);
    }

    private static string[] Arguments(string failure, string dataDirectory, Socket taken)
    {
        var port = ((IPEndPoint)taken.LocalEndPoint!).Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        List<string> args =
        [
            "--urls", failure == "http-port-taken" ? $"http://127.0.0.1:{port}" : "http://127.0.0.1:0",
            "--M2M:DataDirectory", dataDirectory,
            "--M2M:Ingest:M2mpPort", failure == "m2mp-port-taken" ? port : "0",
            "--M2M:Ingest:AlipPort", "0",
            "--Logging:LogLevel:Default", "Warning",
        ];
        switch (failure)
        {
            case "tls-certificate-missing":
                args.AddRange(["--M2M:Ingest:Tls:Enabled", "true", "--M2M:Ingest:Tls:M2mpPort", "0", "--M2M:Ingest:Tls:AlipPort", "0",
                    "--M2M:Ingest:Tls:CertificatePath", Path.Combine(dataDirectory, "none.pfx")]);
                break;
            case "invalid-setting":
                args.AddRange(["--M2M:Ingest:SessionThreads", "-1"]);
                break;
        }
        return [.. args];
    }

    private static string ExpectedReason(string failure) => failure switch
    {
        "m2mp-port-taken" => "The device listeners cannot listen (Address already in use)",
        "http-port-taken" => "address already in use",
        "tls-certificate-missing" => "M2M:Ingest:Tls:CertificatePath",
        _ => "SessionThreads",
    };

    /// <summary>A port this test holds (on every address, as the device listeners bind), so that the server cannot bind it.</summary>
    private static Socket Listen()
    {
        var socket = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp) { DualMode = true };
        socket.Bind(new IPEndPoint(IPAddress.IPv6Any, 0));
        socket.Listen();
        return socket;
    }

    private sealed class CollectingLoggerProvider : ILoggerProvider
    {
        public ConcurrentQueue<(string Category, LogLevel Level, string Message)> Entries { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

        public void Dispose()
        {
        }

        private sealed class Logger(CollectingLoggerProvider provider, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                provider.Entries.Enqueue((category, logLevel, formatter(state, exception)));
        }
    }
}
