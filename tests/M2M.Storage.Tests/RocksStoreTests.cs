using M2M.Storage.Rocks;
using M2M.Storage.TimeSeries;
using M2M.Testing;

namespace M2M.Storage.Tests;

public sealed class RocksStoreTests : IDisposable
{
    private readonly TempDirectory _directory = new("m2m-rocks");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _directory.Dispose();

    [Fact]
    public async Task Data_survives_closing_and_reopening_the_database()
    {
        var record = new TimeSeriesRecord("dev-1", "sen:temp", new DateTimeOffset(2026, 4, 1, 0, 0, 0, TimeSpan.Zero), """{"t":1}""");
        using (var store = RocksStore.Open(_directory.Path))
        {
            await new RocksTimeSeriesStore(store).SaveAsync(record, Ct);
        }

        using var reopened = RocksStore.Open(_directory.Path);
        var series = new RocksTimeSeriesStore(reopened);
        Assert.Equal(record, await series.GetAsync("dev-1", "sen:temp", record.Time, Ct));
        Assert.Equal(record, Assert.Single(await series.GetLatestAsync("dev-1", Ct)));
        Assert.Equal([new DateOnly(2026, 4, 1)], await series.GetMonthsAsync(Ct));
    }

    [Fact]
    public void New_database_stores_the_current_format_version()
    {
        using var store = RocksStore.Open(_directory.Path);

        Assert.Equal(RocksStore.FormatVersion, store.StoredFormatVersion);
    }

    [Fact]
    public void Database_written_by_a_newer_format_is_refused()
    {
        using (var store = RocksStore.Open(_directory.Path))
        {
            store.WriteFormatVersion(RocksStore.FormatVersion + 1);
        }

        var error = Assert.Throws<StorageFormatException>(() => RocksStore.Open(_directory.Path));
        Assert.Contains($"format {RocksStore.FormatVersion + 1}", error.Message);

        // Refusing changes nothing and releases the database: a second attempt fails the same way
        // (not on the directory lock, and not by finding a downgraded version).
        Assert.Throws<StorageFormatException>(() => RocksStore.Open(_directory.Path));
    }

    [Fact]
    public void Database_of_an_older_format_is_upgraded_on_open()
    {
        using (var store = RocksStore.Open(_directory.Path))
        {
            store.WriteFormatVersion(RocksStore.FormatVersion - 1);
        }

        using var upgraded = RocksStore.Open(_directory.Path);

        Assert.Equal(RocksStore.FormatVersion, upgraded.StoredFormatVersion);
    }

    [Fact]
    public void Second_opener_of_the_same_directory_is_refused_while_the_first_is_open()
    {
        using var first = RocksStore.Open(_directory.Path);

        Assert.ThrowsAny<Exception>(() => RocksStore.Open(_directory.Path));
    }
}
