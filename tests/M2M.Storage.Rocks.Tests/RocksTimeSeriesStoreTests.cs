using M2M.Storage.Contracts;
using M2M.Storage.TimeSeries;
using M2M.Testing;

namespace M2M.Storage.Rocks.Tests;

/// <summary>The time-series contract on a real RocksDB database in a temporary directory.</summary>
public sealed class RocksTimeSeriesStoreTests : TimeSeriesStoreContract, IDisposable
{
    private readonly TempDirectory _directory = new("m2m-ts");
    private RocksStore? _store;

    protected override ValueTask<ITimeSeriesStore> CreateStoreAsync()
    {
        _store = RocksStore.Open(_directory.Path, new RocksStoreOptions { Durability = Durability.ProcessCrash, BlockCacheBytes = 8 << 20, WriteBufferBytes = 4 << 20 });
        return ValueTask.FromResult<ITimeSeriesStore>(new RocksTimeSeriesStore(_store));
    }

    [Fact]
    public async Task Large_unsorted_batches_with_resent_records_store_each_record_once_and_keep_the_newest_latest()
    {
        // The save path copies the keys and values of a batch into one reused arena and puts them in key order: a
        // batch far larger than the arena it starts with (and than the size it keeps between calls), in no key
        // order, holding records twice, then sent again, then a small batch on the reused buffers.
        var store = await CreateStoreAsync();
        var random = new Random(7);
        var padding = new string('x', 40_000);
        var records = new List<TimeSeriesRecord>();
        for (var i = 0; i < 150; i++)
        {
            var id = $"dev-{i % 3}";
            var type = i % 2 == 0 ? "sen:temp" : "can";
            var time = T(2026, 1 + i % 2, 1).AddMinutes(i * 7 % 50);
            records.Add(R(id, type, time, $$"""{"n":{{i}},"pad":"{{padding}}"}"""));
        }
        var batch = records.OrderBy(_ => random.Next()).ToList();
        batch.Insert(10, batch[100]);
        batch.Add(batch[0]);

        await store.SaveManyAsync(batch, Ct);
        await store.SaveManyAsync(batch, Ct);
        var small = R("dev-0", "sen:temp", T(2026, 3, 1), """{"n":"small"}""");
        await store.SaveManyAsync([small, records[0]], Ct);
        records.Add(small);

        foreach (var series in records.GroupBy(r => r.Id))
        {
            var query = new TimeSeriesQuery(series.Key, Descending: false, Limit: 7);
            Assert.Equal(Ordered(series, descending: false), await ReadAllPages(store, query));
            foreach (var type in series.Select(r => r.Type).Distinct())
            {
                var byType = await ReadAllPages(store, query with { Type = type });
                Assert.Equal(Ordered(series.Where(r => r.Type == type), descending: false), byType);
            }
            Assert.Equal(Latest(series), await store.GetLatestAsync(series.Key, Ct));
        }
    }

    [Fact]
    public async Task A_batch_whose_ids_and_types_sort_differently_in_utf16_and_utf8_stores_each_record_once_and_keeps_the_newest_latest()
    {
        // The save path sorts a batch by the ranks of its ids and types (by their UTF-8 bytes): ids that are prefixes
        // of others, characters above U+FFFF (surrogates in UTF-16, sorting before U+E000..U+FFFF there but after them
        // in UTF-8), two months, a record sent twice and two records of one instant that differ only in data.
        var store = await CreateStoreAsync();
        string[] ids = ["dev-1", "dev-10", "dev-1\uE000", "dev-1\U0001F600", "dev-\u00E91"];
        // Types 1 and 3 share instants (as do 0 and 2): their order in a series is the UTF-8 one.
        string[] types = ["t", "t\uFFFD", "ta", "t\U0001F4A1"];
        var records = new List<TimeSeriesRecord>();
        for (var i = 0; i < 120; i++)
        {
            var time = T(2026, 1 + i % 2, 1 + i % 5).AddMinutes(i % 3);
            records.Add(R(ids[i % ids.Length], types[i / ids.Length % types.Length], time, $$"""{"n":{{i}}}"""));
        }
        var twin = records[7] with { Data = """{"n":"twin"}""" };
        var batch = records.AsEnumerable().Reverse().ToList();
        batch.Insert(3, twin);
        batch.Add(records[7]);
        records.Add(twin);

        await store.SaveManyAsync(batch, Ct);

        // Expected orders by code point (UTF-8 byte order), which the keys follow.
        static List<TimeSeriesRecord> NewestFirst(IEnumerable<TimeSeriesRecord> records) => records.OrderByDescending(r => r, RecordIdentity.Comparer).ToList();
        foreach (var series in records.GroupBy(r => r.Id))
        {
            var query = new TimeSeriesQuery(series.Key, Descending: true, Limit: 9);
            Assert.Equal(NewestFirst(series), await ReadAllPages(store, query));
            foreach (var type in types)
            {
                Assert.Equal(NewestFirst(series.Where(r => r.Type == type)), await ReadAllPages(store, query with { Type = type }));
            }
            Assert.Equal(Latest(series), (await store.GetLatestAsync(series.Key, Ct)).OrderBy(r => r.Type, StringComparer.Ordinal));
        }
    }

    [Fact]
    public async Task A_commit_prepared_while_the_previous_one_is_pending_keeps_the_newest_latest_and_stores_both()
    {
        // The batch writer prepares batch n + 1 before batch n is written: the ts_latest comparison must see batch n.
        var store = (RocksTimeSeriesStore)await CreateStoreAsync();
        var newer = R("dev-p", "sen:temp", T(2026, 2, 1), """{"v":2}""");
        var older = R("dev-p", "sen:temp", T(2026, 1, 1), """{"v":1}""");
        var other = R("dev-p", "can", T(2026, 1, 5), """{"v":3}""");

        using (var first = store.Prepare([newer], null))
        using (var second = store.Prepare([older, other], null))
        {
            Assert.Empty(await store.GetLatestAsync("dev-p", Ct));
            first.Commit();
            second.Commit();
            Assert.Throws<InvalidOperationException>(second.Commit);
        }

        Assert.Equal(new[] { newer, other }.OrderBy(r => r.Type, StringComparer.Ordinal), (await store.GetLatestAsync("dev-p", Ct)).OrderBy(r => r.Type, StringComparer.Ordinal));
        Assert.Equal(Ordered([older, newer, other], descending: false), await ReadAllPages(store, new TimeSeriesQuery("dev-p", Descending: false)));
    }

    [Fact]
    public async Task A_prepared_commit_disposed_without_committing_stores_nothing()
    {
        var store = (RocksTimeSeriesStore)await CreateStoreAsync();
        var dropped = R("dev-q", "sen:temp", T(2026, 1, 1), """{"v":1}""");
        using (store.Prepare([dropped], null))
        {
        }
        var kept = R("dev-q", "sen:temp", T(2026, 1, 2), """{"v":2}""");
        await store.SaveManyAsync([kept], Ct);

        Assert.Equal([kept], await ReadAllPages(store, new TimeSeriesQuery("dev-q")));
        var prepared = store.Prepare([dropped], null);
        prepared.Dispose();
        Assert.Throws<ObjectDisposedException>(prepared.Commit);
    }

    [Fact]
    public async Task Dropping_a_month_frees_its_disk_space_at_once()
    {
        var store = await CreateStoreAsync();
        var records = new List<TimeSeriesRecord>();
        for (var i = 0; i < 40_000; i++)
        {
            records.Add(new TimeSeriesRecord($"dev-{i % 50}", "sen:loc", new DateTimeOffset(2026, 2, 1, 0, 0, 0, TimeSpan.Zero).AddSeconds(i * 60),
                $$"""{"lat":{{48 + (i % 1000) / 1000.0}},"lon":{{2 + (i % 777) / 777.0}},"spd":{{i % 120}},"alt":35,"pad":"{{new string('x', 100)}}"}"""));
        }
        var kept = new TimeSeriesRecord("dev-0", "sen:loc", new DateTimeOffset(2026, 4, 2, 0, 0, 0, TimeSpan.Zero), "{}");
        await store.SaveManyAsync([.. records, kept], Ct);
        var ts = _store!.Family(RocksStore.Families.Series);
        _store.Db.CompactRange((byte[]?)null, null, ts); // flush and settle: what a long-running database looks like
        var before = SstBytes(ts);

        await store.DropMonthAsync(new DateOnly(2026, 2, 1), Ct);

        var after = SstBytes(ts);
        Assert.True(before > 1_000_000, $"{before} bytes of files before");
        Assert.True(after < before / 20, $"{after} bytes of files left of {before}");
        Assert.Equal(kept, Assert.Single((await store.QueryAsync(new TimeSeriesQuery("dev-0"), Ct)).Items));
    }

    private long SstBytes(RocksDbSharp.ColumnFamilyHandle family) => long.Parse(_store!.Db.GetProperty("rocksdb.total-sst-files-size", family), System.Globalization.CultureInfo.InvariantCulture);

    public void Dispose()
    {
        _store?.Dispose();
        _directory.Dispose();
    }
}
