using System.Diagnostics;
using M2M.Storage.TimeSeries;
using M2M.Testing;

namespace M2M.Storage.Rocks.Tests;

/// <summary>
/// The commit-before-signal guarantee across a real process kill: a child process writes through the
/// batch writer and prints each record once <see cref="IRecordWriter.WaitDurableAsync"/> returned for
/// it; the test kills it mid-stream and finds every printed record in the reopened database.
/// </summary>
public sealed class CrashTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>The child's build output: same layout as ours, with the child's project name.</summary>
    internal static string ChildExecutable()
    {
        var ours = AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar);
        var directory = ours.Replace("M2M.Storage.Rocks.Tests", "M2M.Storage.Rocks.CrashChild", StringComparison.Ordinal);
        var path = Path.Combine(directory, OperatingSystem.IsWindows() ? "M2M.Storage.Rocks.CrashChild.exe" : "M2M.Storage.Rocks.CrashChild");
        Assert.True(File.Exists(path), $"The crash child is not built at {path}.");
        return path;
    }

    [Theory]
    [InlineData(300)]
    [InlineData(3_000)]
    public async Task Every_record_reported_durable_survives_killing_the_writer_process(int killAfterRecords)
    {
        using var directory = new TempDirectory("m2m-crash");
        var durable = new List<string>();
        using (var child = Process.Start(new ProcessStartInfo(ChildExecutable(), [directory.Path, "4"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        })!)
        {
            try
            {
                var ready = await child.StandardOutput.ReadLineAsync(Ct);
                if (ready != "ready")
                {
                    child.Kill(entireProcessTree: true);
                    Assert.Fail($"The child did not start: {ready} {await child.StandardError.ReadToEndAsync(Ct)}");
                }
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
                timeout.CancelAfter(TimeSpan.FromSeconds(60));
                while (durable.Count < killAfterRecords)
                {
                    var line = await child.StandardOutput.ReadLineAsync(timeout.Token);
                    if (line is null)
                    {
                        Assert.Fail($"The child exited early: {await child.StandardError.ReadToEndAsync(Ct)}");
                    }
                    durable.Add(line);
                }
            }
            finally
            {
                // The equivalent of kill -9: no drain, no dispose, mid-stream.
                child.Kill(entireProcessTree: true);
                await child.WaitForExitAsync(Ct);
            }
            // Lines already printed before the kill also count: they were reported durable.
            while (await child.StandardOutput.ReadLineAsync(Ct) is { } line)
            {
                durable.Add(line);
            }
        }

        using var store = RocksStore.Open(directory.Path);
        var series = new RocksTimeSeriesStore(store);
        var missing = new List<string>();
        foreach (var line in durable)
        {
            var parts = line.Split(' ');
            var time = new DateTimeOffset(long.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture), TimeSpan.Zero);
            if ((await series.GetAsync(parts[0], parts[1], time, Ct)).Count == 0)
            {
                missing.Add(line);
            }
        }
        Assert.True(durable.Count >= killAfterRecords);
        Assert.Empty(missing);
    }
}
