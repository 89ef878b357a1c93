using M2M.Ingest.Connections;

namespace M2M.Ingest.Sessions.Tests;

public class ConnectionLimitTests
{
    [Theory]
    [InlineData(100_000, 2048, 20_000L, 17_952)]
    [InlineData(5_000, 2048, 20_000L, 5_000)]
    [InlineData(100_000, 600, 1_500L, 900)]
    [InlineData(100_000, 2048, 1_024L, 0)]
    [InlineData(100_000, 2048, null, 100_000)]
    [InlineData(100_000, 0, 4_000_000_000L, 100_000)]
    public void Limit_is_the_open_files_limit_minus_the_reserve_and_at_most_MaxConnections(int max, int reserve, long? openFiles, int expected)
    {
        var limit = new ConnectionLimit(max, reserve, openFiles);

        Assert.Equal(expected, limit.Value);
        Assert.Equal(expected < max, limit.IsSetByOpenFiles);
    }

    [Fact]
    public void The_process_open_files_limit_is_read_on_Linux()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "getrlimit is read on Unix systems.");

        var soft = ConnectionLimit.OpenFiles.SoftLimit();

        // The same figure the kernel shows for this process.
        var line = File.ReadLines("/proc/self/limits").Single(l => l.StartsWith("Max open files", StringComparison.Ordinal));
        var shown = line["Max open files".Length..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries)[0];
        Assert.Equal(shown == "unlimited" ? null : long.Parse(shown, System.Globalization.CultureInfo.InvariantCulture), soft);
    }
}
