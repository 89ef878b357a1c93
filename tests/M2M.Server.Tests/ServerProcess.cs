using M2M.Testing;

namespace M2M.Server.Tests;

/// <summary>The real server as a child process (<see cref="ChildServer"/>) with these tests' defaults: free ports, a known admin password, session warnings only.</summary>
public static class ServerProcess
{
    /// <summary>Starts the server on <paramref name="dataDirectory"/> with <paramref name="args"/> added to the defaults.</summary>
    /// <param name="dataDirectory">The data directory (owned by the caller), also the child's working directory.</param>
    /// <param name="openFilesLimit">When set, the child runs under <c>ulimit -n</c> of this value (soft and hard).</param>
    public static Task<ChildServer> StartAsync(string dataDirectory, int? openFilesLimit, params string[] args) =>
        StartAsync(dataDirectory, openFilesLimit, environment: null, args);

    /// <summary>Starts the server on <paramref name="dataDirectory"/> with <paramref name="environment"/> added to its environment.</summary>
    public static Task<ChildServer> StartAsync(string dataDirectory, int? openFilesLimit, IReadOnlyDictionary<string, string>? environment, params string[] args) =>
        ChildServer.StartAsync(
            [
                "--urls", "http://127.0.0.1:0",
                "--M2M:DataDirectory", dataDirectory,
                "--M2M:Ingest:M2mpPort", "0",
                "--M2M:Ingest:AlipPort", "0",
                "--M2M:Admin:Password", "fault-injection-password",
                "--Logging:LogLevel:Default", "Information",
                "--Logging:LogLevel:Microsoft.AspNetCore", "Warning",
                "--Logging:LogLevel:M2M.Ingest.Sessions", "Warning",
                .. args,
            ],
            dataDirectory,
            openFilesLimit,
            environment);
}

/// <summary>Tests that start heavy child servers and flood them run one at a time, apart from the rest.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ChildServerCollection
{
    public const string Name = "child servers";
}
