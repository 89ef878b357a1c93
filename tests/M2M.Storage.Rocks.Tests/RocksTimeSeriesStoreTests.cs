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

    public void Dispose()
    {
        _store?.Dispose();
        _directory.Dispose();
    }
}
