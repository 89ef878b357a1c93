using M2M.Storage.Contracts;
using M2M.Storage.Postgres.TimeSeries;
using M2M.Storage.TimeSeries;
using Npgsql;

namespace M2M.Storage.Postgres.Tests;

/// <summary>Monthly partitions: ahead of time, on demand for late data, created once by concurrent writers, dropped with their month.</summary>
public sealed class PartitionTests(PostgresFixture fixture) : IClassFixture<PostgresFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static DateTimeOffset T(int year, int month, int day) => new(year, month, day, 0, 0, 0, TimeSpan.Zero);

    private async Task<List<string>> PartitionsAsync(PostgresStore store)
    {
        await using var connection = await store.DataSource.OpenConnectionAsync(Ct);
        return [.. (await store.Partitions.ReadExistingAsync(connection, null, Ct)).Order(StringComparer.Ordinal)];
    }

    [Fact]
    public async Task Opening_creates_the_partitions_of_this_month_and_the_months_ahead_without_listing_them_as_data()
    {
        var store = PostgresStore.Open(fixture.DataSource, new PostgresStorageOptions { Schema = fixture.NewSchemaName(), MonthsAhead = 2 }, new ManualTimeProvider(T(2030, 11, 20)));

        Assert.Equal(["ts_p203011", "ts_p203012", "ts_p203101"], await PartitionsAsync(store));
        Assert.Empty(await new PostgresTimeSeriesStore(store).GetMonthsAsync(Ct));
    }

    [Fact]
    public async Task A_record_of_a_month_without_a_partition_creates_it_and_the_batch_succeeds()
    {
        var store = fixture.NewStore(new ManualTimeProvider(T(2026, 1, 15)));
        var series = new PostgresTimeSeriesStore(store);
        var late = new TimeSeriesRecord("dev-1", "t", T(2019, 7, 4), """{"late":true}""");

        await series.SaveManyAsync([new TimeSeriesRecord("dev-1", "t", T(2026, 1, 16), "{}"), late], Ct);

        Assert.Contains("ts_p201907", await PartitionsAsync(store));
        Assert.Equal([late], await series.GetAsync("dev-1", "t", late.Time, Ct));
        Assert.Equal([new DateOnly(2019, 7, 1), new DateOnly(2026, 1, 1)], await series.GetMonthsAsync(Ct));
    }

    [Fact]
    public async Task Writers_of_two_processes_needing_the_same_new_month_at_once_both_succeed()
    {
        var schema = fixture.NewSchemaName();
        var sources = Enumerable.Range(0, 2).Select(_ => NpgsqlDataSource.Create(fixture.ConnectionString)).ToList();
        try
        {
            var stores = sources.Select(s => new PostgresTimeSeriesStore(PostgresStore.Open(s, new PostgresStorageOptions { Schema = schema }))).ToList();
            for (var round = 0; round < 5; round++)
            {
                // Every round a month that has no partition yet, written by both at the same moment.
                var month = T(2010 + round, 3, 1);
                using var start = new Barrier(2);
                await Task.WhenAll(stores.Select((store, w) => Task.Run(async () =>
                {
                    var records = Enumerable.Range(0, 200).Select(i => new TimeSeriesRecord($"dev-{w}-{round}", "t", month.AddMinutes(i), "{}")).ToList();
                    start.SignalAndWait(Ct);
                    await store.SaveManyAsync(records, Ct);
                }, Ct)));
                foreach (var w in new[] { 0, 1 })
                {
                    Assert.Equal(200, (await stores[0].QueryAsync(new TimeSeriesQuery($"dev-{w}-{round}", Limit: 1000), Ct)).Items.Count);
                }
            }
        }
        finally
        {
            foreach (var source in sources)
            {
                await source.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Dropping_a_month_drops_its_partition_and_a_writer_that_still_knew_it_creates_it_again()
    {
        var schema = fixture.NewSchemaName();
        await using var otherProcess = NpgsqlDataSource.Create(fixture.ConnectionString);
        var writer = new PostgresTimeSeriesStore(PostgresStore.Open(fixture.DataSource, new PostgresStorageOptions { Schema = schema }));
        var retention = new PostgresTimeSeriesStore(PostgresStore.Open(otherProcess, new PostgresStorageOptions { Schema = schema }));
        var store = PostgresStore.Attach(fixture.DataSource, new PostgresStorageOptions { Schema = schema });
        await writer.SaveAsync(new TimeSeriesRecord("dev-1", "t", T(2024, 5, 10), """{"n":1}"""), Ct);

        await retention.DropMonthAsync(new DateOnly(2024, 5, 31), Ct);

        Assert.DoesNotContain("ts_p202405", await PartitionsAsync(store));
        Assert.Empty(await writer.GetMonthsAsync(Ct));
        // The writer's process still believes May 2024 has a partition: its insert finds none, and the batch
        // ensures the partition and runs again.
        await writer.SaveAsync(new TimeSeriesRecord("dev-1", "t", T(2024, 5, 11), """{"n":2}"""), Ct);
        Assert.Contains("ts_p202405", await PartitionsAsync(store));
        Assert.Equal(["""{"n":2}"""], (await writer.QueryAsync(new TimeSeriesQuery("dev-1"), Ct)).Items.Select(r => r.Data));
        Assert.Equal([new DateOnly(2024, 5, 1)], await retention.GetMonthsAsync(Ct));
    }

    [Fact]
    public void Month_bounds_cover_every_tick_once()
    {
        Assert.Equal(202602, MonthPartitions.MonthOf(T(2026, 2, 28).AddTicks(TimeSpan.TicksPerDay - 1).UtcTicks));
        Assert.Equal((T(2026, 2, 1).UtcTicks, T(2026, 3, 1).UtcTicks), MonthPartitions.Bounds(202602));
        Assert.Equal(DateTime.MaxValue.Ticks + 1, MonthPartitions.Bounds(999912).End);
        Assert.Equal(0, MonthPartitions.Bounds(000101).Start);
    }
}
