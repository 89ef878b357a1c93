using System.Buffers.Binary;
using System.Text;
using M2M.Storage.TimeSeries;
using M2M.Testing;

namespace M2M.Storage.Rocks.Tests;

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
        Assert.Equal([record], await series.GetAsync("dev-1", "sen:temp", record.Time, Ct));
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
    public async Task Format_1_database_is_upgraded_to_a_key_only_type_index_and_reads_the_same()
    {
        // Format 1 rows written directly (data in ts and in ts_type), as the old code stored them.
        var records = new List<TimeSeriesRecord>();
        for (var i = 0; i < 25_000; i++)
        {
            var time = new DateTimeOffset(2026, 1, 31, 0, 0, 0, TimeSpan.Zero) + TimeSpan.FromMinutes(7 * i);
            records.Add(new TimeSeriesRecord($"dev-{i % 3}", i % 2 == 0 ? "sen:temp" : "sen:loc", time, $$"""{"n":{{i}}}"""));
        }
        using (var store = RocksStore.Open(_directory.Path))
        {
            var ts = store.Family(RocksStore.Families.Series);
            var byType = store.Family(RocksStore.Families.SeriesByType);
            var latest = store.Family(RocksStore.Families.SeriesLatest);
            var meta = store.Family(RocksStore.Families.Meta);
            foreach (var r in records)
            {
                var data = Encoding.UTF8.GetBytes(r.Data);
                var month = Month(r.Time);
                store.Db.Put((byte[])[.. month, .. U(r.Id), 0, .. Time(r.Time), .. U(r.Type)], data, ts);
                store.Db.Put((byte[])[.. month, .. U(r.Id), 0, .. U(r.Type), 0, .. Time(r.Time)], data, byType);
                store.Db.Put((byte[])[.. U(r.Id), 0, .. U(r.Type)], (byte[])[.. Time(r.Time), .. data], latest);
                store.Db.Put((byte[])[.. "ts/month/"u8, .. month], Array.Empty<byte>(), meta);
            }
            store.WriteFormatVersion(1);
        }

        using var upgraded = RocksStore.Open(_directory.Path);

        Assert.Equal(RocksStore.FormatVersion, upgraded.StoredFormatVersion);
        using (var iterator = upgraded.Db.NewIterator(upgraded.Family(RocksStore.Families.SeriesByType)))
        {
            var keys = 0;
            for (iterator.SeekToFirst(); iterator.Valid(); iterator.Next())
            {
                Assert.Empty(iterator.Value());
                keys++;
            }
            Assert.Equal(records.Count, keys);
        }
        var series = new RocksTimeSeriesStore(upgraded);
        foreach (var (id, type) in new[] { ("dev-0", "sen:temp"), ("dev-1", "sen:loc"), ("dev-2", "sen:temp") })
        {
            var expected = records.Where(r => r.Id == id && r.Type == type).OrderByDescending(r => r.Time).ToList();
            var all = new List<TimeSeriesRecord>();
            string? continuation = null;
            do
            {
                var page = await series.QueryAsync(new TimeSeriesQuery(id) { Type = type, Descending = true, Limit = 1_000, Continuation = continuation }, Ct);
                all.AddRange(page.Items);
                continuation = page.Continuation;
            }
            while (continuation is not null);
            Assert.Equal(expected, all);
            Assert.Contains(expected[0], await series.GetLatestAsync(id, Ct));

            // Deleting the latest record finds the one before it through the key-only index.
            Assert.Equal(1, await series.DeleteAsync(id, type, expected[0].Time, Ct));
            Assert.Contains(expected[1], await series.GetLatestAsync(id, Ct));
        }
    }

    [Fact]
    public async Task Instances_over_the_same_store_share_the_latest_values()
    {
        using var store = RocksStore.Open(_directory.Path);
        var first = new RocksTimeSeriesStore(store);
        var second = new RocksTimeSeriesStore(store);
        var t = new DateTimeOffset(2026, 4, 1, 0, 0, 0, TimeSpan.Zero);

        await first.SaveAsync(new TimeSeriesRecord("dev-1", "sen:temp", t, """{"t":1}"""), Ct);
        await second.SaveAsync(new TimeSeriesRecord("dev-1", "sen:temp", t.AddMinutes(20), """{"t":3}"""), Ct);
        // Newer than what the first instance wrote, older than the second's: must not become the latest.
        await first.SaveAsync(new TimeSeriesRecord("dev-1", "sen:temp", t.AddMinutes(10), """{"t":2}"""), Ct);

        Assert.Equal("""{"t":3}""", Assert.Single(await first.GetLatestAsync("dev-1", Ct)).Data);
        Assert.Equal(1, await second.DeleteAsync("dev-1", "sen:temp", t.AddMinutes(20), Ct));
        await first.SaveAsync(new TimeSeriesRecord("dev-1", "sen:temp", t.AddMinutes(5), """{"t":1.5}"""), Ct);
        Assert.Equal("""{"t":2}""", Assert.Single(await second.GetLatestAsync("dev-1", Ct)).Data);
    }

    private static byte[] U(string s) => Encoding.UTF8.GetBytes(s);

    private static byte[] Month(DateTimeOffset time)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, (uint)(time.UtcDateTime.Year * 100 + time.UtcDateTime.Month));
        return bytes;
    }

    private static byte[] Time(DateTimeOffset time)
    {
        var bytes = new byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, (ulong)time.UtcTicks ^ 0x8000_0000_0000_0000UL);
        return bytes;
    }

    [Fact]
    public void Second_opener_of_the_same_directory_is_refused_while_the_first_is_open()
    {
        using var first = RocksStore.Open(_directory.Path);

        Assert.ThrowsAny<Exception>(() => RocksStore.Open(_directory.Path));
    }
}
