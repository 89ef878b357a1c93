using M2M.Storage.TimeSeries;

namespace M2M.Storage.Contracts;

/// <summary>
/// The behaviour every <see cref="ITimeSeriesStore"/> backend must have. A backend's test class
/// derives from it and supplies a fresh, empty store per test.
/// </summary>
public abstract partial class TimeSeriesStoreContract
{
    /// <summary>A new, empty store; the derived class disposes what it opened when the test ends.</summary>
    protected abstract ValueTask<ITimeSeriesStore> CreateStoreAsync();

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    protected static DateTimeOffset T(int year, int month, int day, int hour = 0, int minute = 0, int second = 0) =>
        new(year, month, day, hour, minute, second, TimeSpan.Zero);

    protected static TimeSeriesRecord R(string id, string type, DateTimeOffset time, string? data = null) =>
        new(id, type, time, data ?? $$"""{"v":"{{type}}@{{time.UtcTicks}}"}""");

    private static readonly string[] Types = ["sen:loc", "sen:temp", "_server"];

    /// <summary>
    /// Records of "dev-1" every 7 h 13 min from 20 Jan to mid-April 2026, types in rotation, plus same-instant
    /// records: of another type, and of the same type with other data.
    /// </summary>
    protected static List<TimeSeriesRecord> SpreadOverMonths(string id = "dev-1")
    {
        var records = new List<TimeSeriesRecord>();
        var time = T(2026, 1, 20);
        for (var i = 0; i < 280; i++)
        {
            var type = Types[i % Types.Length];
            records.Add(R(id, type, time));
            if (i % 25 == 0)
            {
                // Another type at the very same instant: both survive, ordered by type.
                records.Add(R(id, Types[(i + 1) % Types.Length], time));
            }
            if (i % 20 == 7)
            {
                // The same type and instant with other data: another record, both survive.
                records.Add(R(id, type, time, $$"""{"v":"{{type}}@{{time.UtcTicks}}","other":{{i}}}"""));
                records.Add(R(id, type, time, $$"""{"v":"{{type}}@{{time.UtcTicks}}","other":{{i + 1}}}"""));
            }
            time += new TimeSpan(7, 13, 0);
        }
        return records;
    }

    /// <summary>The content discriminator of a record (the engine-neutral hash of its data).</summary>
    protected static long D(TimeSeriesRecord record) => RecordIdentity.Discriminator(record.Data);

    /// <summary>Expected order: time, then type (ordinal), then discriminator, reversed for newest first.</summary>
    protected static List<TimeSeriesRecord> Ordered(IEnumerable<TimeSeriesRecord> records, bool descending)
    {
        var list = records.OrderBy(r => r.Time.UtcTicks).ThenBy(r => r.Type, StringComparer.Ordinal).ThenBy(D).ToList();
        if (descending)
        {
            list.Reverse();
        }
        return list;
    }

    /// <summary>The expected latest value of each type: the newest record, at one instant the greatest discriminator.</summary>
    protected static IEnumerable<TimeSeriesRecord> Latest(IEnumerable<TimeSeriesRecord> records) =>
        records.GroupBy(r => r.Type).Select(g => g.MaxBy(r => (r.Time.UtcTicks, D(r)))).OrderBy(r => r.Type, StringComparer.Ordinal);

    protected static async Task<List<TimeSeriesRecord>> ReadAllPages(ITimeSeriesStore store, TimeSeriesQuery query, Func<Task>? betweenPages = null)
    {
        var all = new List<TimeSeriesRecord>();
        string? continuation = null;
        var pages = 0;
        do
        {
            var page = await store.QueryAsync(query with { Continuation = continuation }, Ct);
            Assert.True(page.Items.Count <= query.Limit);
            Assert.True(page.Continuation is null || page.Items.Count == query.Limit, "Only a full page may have a continuation.");
            all.AddRange(page.Items);
            continuation = page.Continuation;
            if (betweenPages is not null)
            {
                await betweenPages();
            }
            Assert.True(++pages < 10_000, "Paging does not terminate.");
        }
        while (continuation is not null);
        return all;
    }

    [Fact]
    public async Task Saved_record_is_read_back_by_id_type_and_time()
    {
        var store = await CreateStoreAsync();
        var record = R("dev-1", "sen:temp", T(2026, 3, 4, 5, 6, 7).AddTicks(1234), """{"t":21.5}""");

        await store.SaveAsync(record, Ct);

        Assert.Equal([record], await store.GetAsync("dev-1", "sen:temp", record.Time, Ct));
    }

    [Fact]
    public async Task Get_returns_nothing_for_a_missing_record()
    {
        var store = await CreateStoreAsync();
        await store.SaveAsync(R("dev-1", "sen:temp", T(2026, 3, 4)), Ct);
        await store.SaveAsync(R("dev-1", "sen:temperature", T(2026, 3, 4)), Ct);

        Assert.Empty(await store.GetAsync("dev-1", "sen:temp", T(2026, 3, 4).AddTicks(1), Ct));
        Assert.Empty(await store.GetAsync("dev-1", "sen:loc", T(2026, 3, 4), Ct));
        Assert.Empty(await store.GetAsync("dev-1", "sen:tem", T(2026, 3, 4), Ct));
        Assert.Empty(await store.GetAsync("dev-2", "sen:temp", T(2026, 3, 4), Ct));
    }

    [Fact]
    public async Task Time_with_an_offset_is_stored_as_the_same_instant_in_utc()
    {
        var store = await CreateStoreAsync();
        var local = new DateTimeOffset(2026, 5, 1, 1, 30, 0, TimeSpan.FromHours(2));

        await store.SaveAsync(R("dev-1", "t", local, "{}"), Ct);

        var read = Assert.Single(await store.GetAsync("dev-1", "t", local.ToUniversalTime(), Ct));
        Assert.Equal(local.UtcDateTime, read.Time.UtcDateTime);
        Assert.Equal(TimeSpan.Zero, read.Time.Offset);
    }

    [Fact]
    public async Task Records_of_different_types_at_the_same_instant_both_survive()
    {
        var store = await CreateStoreAsync();
        var time = T(2026, 2, 1);

        await store.SaveManyAsync([R("dev-1", "b", time), R("dev-1", "a", time)], Ct);

        var page = await store.QueryAsync(new TimeSeriesQuery("dev-1", Descending: false), Ct);
        Assert.Equal(["a", "b"], page.Items.Select(r => r.Type));
    }

    [Fact]
    public async Task Save_many_stores_every_record_of_many_series()
    {
        var store = await CreateStoreAsync();
        var records = Enumerable.Range(0, 50)
            .SelectMany(d => Enumerable.Range(0, 20).Select(i => R($"dev-{d}", i % 2 == 0 ? "a" : "b", T(2026, 1, 1).AddMinutes(i * 1000))))
            .ToList();

        await store.SaveManyAsync(records, Ct);

        foreach (var group in records.GroupBy(r => r.Id))
        {
            var page = await store.QueryAsync(new TimeSeriesQuery(group.Key, Descending: false, Limit: 100), Ct);
            Assert.Equal(Ordered(group, descending: false), page.Items);
            Assert.Null(page.Continuation);
        }
    }

    [Fact]
    public async Task Query_by_id_returns_every_type_newest_first_by_default()
    {
        var store = await CreateStoreAsync();
        var records = SpreadOverMonths();
        await store.SaveManyAsync(records, Ct);
        await store.SaveAsync(R("dev-2", "sen:loc", T(2026, 2, 2)), Ct);

        var page = await store.QueryAsync(new TimeSeriesQuery("dev-1", Limit: TimeSeriesQuery.MaxLimit), Ct);

        Assert.Equal(Ordered(records, descending: true), page.Items);
        Assert.Null(page.Continuation);
    }

    [Fact]
    public async Task Query_by_id_and_type_returns_only_that_type_oldest_first_when_asked()
    {
        var store = await CreateStoreAsync();
        var records = SpreadOverMonths();
        await store.SaveManyAsync(records, Ct);

        var page = await store.QueryAsync(new TimeSeriesQuery("dev-1", "sen:temp", Descending: false, Limit: TimeSeriesQuery.MaxLimit), Ct);

        Assert.Equal(Ordered(records.Where(r => r.Type == "sen:temp"), descending: false), page.Items);
    }

    [Fact]
    public async Task Query_range_includes_both_bounds()
    {
        var store = await CreateStoreAsync();
        var times = Enumerable.Range(0, 10).Select(i => T(2026, 1, 31, 20).AddHours(i)).ToList();
        await store.SaveManyAsync([.. times.Select(t => R("dev-1", "t", t))], Ct);

        var all = await store.QueryAsync(new TimeSeriesQuery("dev-1", From: times[2], To: times[7], Descending: false), Ct);
        var typed = await store.QueryAsync(new TimeSeriesQuery("dev-1", "t", From: times[2], To: times[7]), Ct);

        Assert.Equal(times[2..8], all.Items.Select(r => r.Time));
        Assert.Equal(times[2..8].AsEnumerable().Reverse(), typed.Items.Select(r => r.Time));
    }

    [Fact]
    public async Task Query_of_an_unknown_series_is_an_empty_last_page()
    {
        var store = await CreateStoreAsync();
        await store.SaveAsync(R("dev-10", "t", T(2026, 1, 1)), Ct);

        var page = await store.QueryAsync(new TimeSeriesQuery("dev-1"), Ct);

        Assert.Empty(page.Items);
        Assert.Null(page.Continuation);
    }

    [Theory]
    [InlineData(true, null, false)]
    [InlineData(false, null, false)]
    [InlineData(true, "sen:loc", false)]
    [InlineData(false, "sen:loc", false)]
    [InlineData(true, null, true)]
    [InlineData(false, null, true)]
    [InlineData(true, "_server", true)]
    [InlineData(false, "_server", true)]
    public async Task Paging_across_months_returns_every_record_once_in_order(bool descending, string? type, bool withRange)
    {
        var store = await CreateStoreAsync();
        var records = SpreadOverMonths();
        await store.SaveManyAsync(records, Ct);
        await store.SaveManyAsync([.. SpreadOverMonths("dev-0"), .. SpreadOverMonths("dev-10")], Ct);
        DateTimeOffset? from = withRange ? T(2026, 1, 29, 3) : null;
        DateTimeOffset? to = withRange ? T(2026, 3, 31, 23, 59, 59) : null;

        var read = await ReadAllPages(store, new TimeSeriesQuery("dev-1", type, from, to, descending, Limit: 7));

        var expected = records.Where(r => (type is null || r.Type == type) && (from is null || r.Time >= from) && (to is null || r.Time <= to));
        Assert.Equal(Ordered(expected, descending), read);
    }

    [Theory]
    [InlineData(true, null)]
    [InlineData(false, null)]
    [InlineData(true, "sen:temp")]
    [InlineData(false, "sen:temp")]
    public async Task Paging_under_concurrent_inserts_neither_repeats_nor_misses_existing_records(bool descending, string? type)
    {
        var store = await CreateStoreAsync();
        var existing = SpreadOverMonths();
        await store.SaveManyAsync(existing, Ct);
        var random = new Random(42);
        TimeSeriesRecord NewRecord()
        {
            // New records before, between and after the existing ones, in every month.
            var time = T(2026, 1, 15).AddMinutes(random.Next(0, 60 * 24 * 100)).AddTicks(random.Next(1, 1000));
            return R("dev-1", random.Next(2) == 0 ? "sen:temp" : "sen:new", time);
        }
        var concurrent = Enumerable.Range(0, 300).Select(_ => NewRecord()).ToList();
        var between = Enumerable.Range(0, 1000).Select(_ => NewRecord()).ToList();
        var inserter = Task.Run(async () =>
        {
            foreach (var record in concurrent)
            {
                await store.SaveAsync(record, Ct);
                await Task.Yield();
            }
        }, Ct);

        var next = 0;
        var read = await ReadAllPages(store, new TimeSeriesQuery("dev-1", type, Descending: descending, Limit: 9), async () =>
        {
            // Besides the concurrent writer, a few inserts between every two pages for sure.
            for (var i = 0; i < 3 && next < between.Count; i++)
            {
                await store.SaveAsync(between[next++], Ct);
            }
        });
        await inserter;

        Assert.Equal(read.Count, read.Distinct().Count());
        Assert.Equal(Ordered(read, descending), read);
        var seen = read.ToHashSet();
        Assert.All(existing.Where(r => type is null || r.Type == type), r => Assert.Contains(r, seen));
    }

    [Fact]
    public async Task Latest_returns_the_newest_record_of_each_type()
    {
        var store = await CreateStoreAsync();
        var records = SpreadOverMonths();
        await store.SaveManyAsync(records, Ct);
        await store.SaveAsync(R("dev-2", "sen:loc", T(2027, 1, 1)), Ct);

        var latest = await store.GetLatestAsync("dev-1", Ct);

        Assert.Equal(Latest(records), latest.OrderBy(r => r.Type, StringComparer.Ordinal));
    }

    [Fact]
    public async Task Older_record_saved_later_does_not_replace_the_latest()
    {
        var store = await CreateStoreAsync();
        var newest = R("dev-1", "t", T(2026, 6, 1), """{"v":"new"}""");
        await store.SaveAsync(newest, Ct);

        await store.SaveAsync(R("dev-1", "t", T(2026, 5, 1), """{"v":"old"}"""), Ct);
        await store.SaveManyAsync([R("dev-1", "t", T(2026, 4, 1)), R("dev-1", "t", T(2026, 5, 31))], Ct);

        Assert.Equal(newest, Assert.Single(await store.GetLatestAsync("dev-1", Ct)));
        await store.SaveAsync(R("dev-1", "t", T(2026, 6, 2), """{"v":"newer"}"""), Ct);
        Assert.Equal("""{"v":"newer"}""", Assert.Single(await store.GetLatestAsync("dev-1", Ct)).Data);
    }

    [Fact]
    public async Task Latest_of_an_unknown_series_is_empty()
    {
        var store = await CreateStoreAsync();
        await store.SaveAsync(R("dev-10", "t", T(2026, 1, 1)), Ct);

        Assert.Empty(await store.GetLatestAsync("dev-1", Ct));
    }

    [Fact]
    public async Task Delete_removes_the_record_of_the_instant_and_reports_how_many_there_were()
    {
        var store = await CreateStoreAsync();
        await store.SaveManyAsync([R("dev-1", "t", T(2026, 1, 1)), R("dev-1", "t", T(2026, 1, 2)), R("dev-1", "u", T(2026, 1, 1))], Ct);

        Assert.Equal(1, await store.DeleteAsync("dev-1", "t", T(2026, 1, 1), Ct));
        Assert.Equal(0, await store.DeleteAsync("dev-1", "t", T(2026, 1, 1), Ct));

        Assert.Empty(await store.GetAsync("dev-1", "t", T(2026, 1, 1), Ct));
        var all = await store.QueryAsync(new TimeSeriesQuery("dev-1", Descending: false), Ct);
        Assert.Equal([("t", T(2026, 1, 2)), ("u", T(2026, 1, 1))], all.Items.Select(r => (r.Type, r.Time)).OrderBy(x => x.Type));
        var typed = await store.QueryAsync(new TimeSeriesQuery("dev-1", "t"), Ct);
        Assert.Equal([T(2026, 1, 2)], typed.Items.Select(r => r.Time));
    }

    [Fact]
    public async Task Deleting_the_latest_record_makes_the_previous_one_latest()
    {
        var store = await CreateStoreAsync();
        await store.SaveManyAsync([R("dev-1", "t", T(2026, 1, 1)), R("dev-1", "t", T(2026, 3, 1)), R("dev-1", "u", T(2026, 3, 5))], Ct);

        await store.DeleteAsync("dev-1", "t", T(2026, 3, 1), Ct);

        var latest = (await store.GetLatestAsync("dev-1", Ct)).ToDictionary(r => r.Type, r => r.Time);
        Assert.Equal(T(2026, 1, 1), latest["t"]);
        Assert.Equal(T(2026, 3, 5), latest["u"]);

        await store.DeleteAsync("dev-1", "t", T(2026, 1, 1), Ct);
        Assert.Equal(["u"], (await store.GetLatestAsync("dev-1", Ct)).Select(r => r.Type));
    }

    [Fact]
    public async Task Delete_range_of_all_types_removes_only_records_inside_the_range()
    {
        var store = await CreateStoreAsync();
        var records = SpreadOverMonths();
        await store.SaveManyAsync(records, Ct);
        await store.SaveManyAsync(SpreadOverMonths("dev-2"), Ct);
        var from = T(2026, 1, 25, 10);
        var to = T(2026, 3, 2, 4);

        await store.DeleteRangeAsync("dev-1", null, from, to, Ct);

        var remaining = await store.QueryAsync(new TimeSeriesQuery("dev-1", Limit: TimeSeriesQuery.MaxLimit), Ct);
        Assert.Equal(Ordered(records.Where(r => r.Time < from || r.Time > to), descending: true), remaining.Items);
        foreach (var type in records.Select(r => r.Type).Distinct())
        {
            var typed = await store.QueryAsync(new TimeSeriesQuery("dev-1", type, Limit: TimeSeriesQuery.MaxLimit), Ct);
            Assert.Equal(Ordered(records.Where(r => r.Type == type && (r.Time < from || r.Time > to)), descending: true), typed.Items);
        }
        var other = await store.QueryAsync(new TimeSeriesQuery("dev-2", Limit: TimeSeriesQuery.MaxLimit), Ct);
        Assert.Equal(records.Count, other.Items.Count);
    }

    [Fact]
    public async Task Delete_range_of_one_type_keeps_the_other_types()
    {
        var store = await CreateStoreAsync();
        var records = SpreadOverMonths();
        await store.SaveManyAsync(records, Ct);
        var from = T(2026, 2, 10);
        var to = T(2026, 4, 1);

        await store.DeleteRangeAsync("dev-1", "sen:loc", from, to, Ct);

        var remaining = await store.QueryAsync(new TimeSeriesQuery("dev-1", Limit: TimeSeriesQuery.MaxLimit), Ct);
        Assert.Equal(Ordered(records.Where(r => r.Type != "sen:loc" || r.Time < from || r.Time > to), descending: true), remaining.Items);
    }

    [Fact]
    public async Task Delete_range_covering_the_latest_record_makes_the_newest_remaining_record_latest()
    {
        var store = await CreateStoreAsync();
        var records = SpreadOverMonths();
        await store.SaveManyAsync(records, Ct);
        var from = T(2026, 3, 10);

        await store.DeleteRangeAsync("dev-1", null, from, T(2030, 1, 1), Ct);

        Assert.Equal(Latest(records.Where(r => r.Time < from)), (await store.GetLatestAsync("dev-1", Ct)).OrderBy(r => r.Type, StringComparer.Ordinal));
    }

    [Fact]
    public async Task Months_holding_data_are_listed_oldest_first()
    {
        var store = await CreateStoreAsync();
        Assert.Empty(await store.GetMonthsAsync(Ct));

        await store.SaveManyAsync([R("a", "t", T(2026, 3, 31, 23, 59, 59)), R("b", "t", T(2025, 12, 1)), R("a", "t", T(2026, 1, 15))], Ct);

        Assert.Equal([new DateOnly(2025, 12, 1), new DateOnly(2026, 1, 1), new DateOnly(2026, 3, 1)], await store.GetMonthsAsync(Ct));
    }

    [Fact]
    public async Task Dropping_a_month_removes_its_records_and_keeps_the_other_months()
    {
        var store = await CreateStoreAsync();
        var records = SpreadOverMonths();
        await store.SaveManyAsync(records, Ct);
        await store.SaveManyAsync(SpreadOverMonths("dev-2"), Ct);

        await store.DropMonthAsync(new DateOnly(2026, 2, 17), Ct);

        Assert.DoesNotContain(new DateOnly(2026, 2, 1), await store.GetMonthsAsync(Ct));
        Assert.Contains(new DateOnly(2026, 3, 1), await store.GetMonthsAsync(Ct));
        var remaining = records.Where(r => r.Time.Month != 2).ToList();
        foreach (var descending in new[] { true, false })
        {
            Assert.Equal(Ordered(remaining, descending), await ReadAllPages(store, new TimeSeriesQuery("dev-1", Descending: descending, Limit: 13)));
            Assert.Equal(
                Ordered(remaining.Where(r => r.Type == "sen:temp"), descending),
                await ReadAllPages(store, new TimeSeriesQuery("dev-1", "sen:temp", Descending: descending, Limit: 13)));
        }
        Assert.Empty((await store.QueryAsync(new TimeSeriesQuery("dev-2", From: T(2026, 2, 1), To: T(2026, 2, 28, 23, 59, 59)), Ct)).Items);
        var inFebruary = records.First(r => r.Time.Month == 2);
        Assert.Empty(await store.GetAsync(inFebruary.Id, inFebruary.Type, inFebruary.Time, Ct));
    }

    [Fact]
    public async Task Dropping_a_month_keeps_latest_values_and_new_records_of_that_month_are_stored_again()
    {
        var store = await CreateStoreAsync();
        var last = R("dev-1", "t", T(2026, 2, 20));
        await store.SaveManyAsync([R("dev-1", "t", T(2026, 1, 20)), last], Ct);

        await store.DropMonthAsync(new DateOnly(2026, 2, 1), Ct);

        Assert.Equal(last, Assert.Single(await store.GetLatestAsync("dev-1", Ct)));
        var again = R("dev-1", "t", T(2026, 2, 21));
        await store.SaveAsync(again, Ct);
        Assert.Contains(new DateOnly(2026, 2, 1), await store.GetMonthsAsync(Ct));
        Assert.Equal([again.Time, T(2026, 1, 20)], (await store.QueryAsync(new TimeSeriesQuery("dev-1"), Ct)).Items.Select(r => r.Time));
    }

    [Fact]
    public async Task Expiring_a_range_deletes_every_type_in_it_counts_them_and_keeps_the_latest_values()
    {
        var store = await CreateStoreAsync();
        var records = SpreadOverMonths();
        // A type whose only (so latest) record lies in the range: its latest value must survive.
        records.Add(R("dev-1", "sen:gone", T(2026, 2, 10)));
        await store.SaveManyAsync(records, Ct);
        await store.SaveManyAsync(SpreadOverMonths("dev-2"), Ct);
        var latestBefore = await store.GetLatestAsync("dev-1", Ct);
        Assert.Contains(latestBefore, r => r.Type == "sen:gone");
        // Everything of dev-1 up to the end of March, including the newest record of some types.
        var from = T(2026, 1, 1);
        var to = T(2026, 4, 1).AddTicks(-1);

        var deleted = await store.ExpireRangeAsync("dev-1", from, to, Ct);

        Assert.Equal(records.Count(r => r.Time >= from && r.Time <= to), deleted);
        var remaining = records.Where(r => r.Time > to).ToList();
        Assert.Equal(Ordered(remaining, descending: true), await ReadAllPages(store, new TimeSeriesQuery("dev-1", Limit: 50)));
        Assert.Equal(
            Ordered(remaining.Where(r => r.Type == "_server"), descending: false),
            await ReadAllPages(store, new TimeSeriesQuery("dev-1", "_server", Descending: false, Limit: 7)));
        Assert.Equal(latestBefore, await store.GetLatestAsync("dev-1", Ct));
        Assert.Equal(SpreadOverMonths("dev-2").Count, (await ReadAllPages(store, new TimeSeriesQuery("dev-2", Limit: 1000))).Count);
        Assert.Equal(0, await store.ExpireRangeAsync("dev-1", from, to, Ct));
        Assert.Equal(0, await store.ExpireRangeAsync("dev-unknown", from, to, Ct));
    }

    [Fact]
    public async Task Expiring_a_range_checks_its_arguments()
    {
        var store = await CreateStoreAsync();
        await Assert.ThrowsAsync<StorageValidationException>(() => store.ExpireRangeAsync("", T(2026, 1, 1), T(2026, 2, 1), Ct).AsTask());
        await Assert.ThrowsAsync<StorageValidationException>(() => store.ExpireRangeAsync("dev-1", T(2026, 2, 1), T(2026, 1, 1), Ct).AsTask());
    }

    public static TheoryData<string, string, string> InvalidRecords => new()
    {
        { "", "t", "{}" },
        { "dev\0x", "t", "{}" },
        { new string('x', 201), "t", "{}" },
        { new string('é', 101), "t", "{}" },
        { "dev-1", "", "{}" },
        { "dev-1", "t\0", "{}" },
        { "dev-1", new string('t', 201), "{}" },
        { "dev-1", "t", new string('d', (1 << 20) + 1) },
        { "dev-1", "t", new string('é', (1 << 19) + 1) },
    };

    [Theory]
    [MemberData(nameof(InvalidRecords))]
    public async Task Invalid_record_is_refused_with_a_validation_error_and_nothing_is_stored(string id, string type, string data)
    {
        var store = await CreateStoreAsync();
        var valid = R("dev-1", "t", T(2026, 1, 1));

        await Assert.ThrowsAsync<StorageValidationException>(() => store.SaveAsync(new TimeSeriesRecord(id, type, T(2026, 1, 2), data), Ct).AsTask());
        await Assert.ThrowsAsync<StorageValidationException>(() => store.SaveManyAsync([valid, new TimeSeriesRecord(id, type, T(2026, 1, 2), data)], Ct).AsTask());

        Assert.Empty((await store.QueryAsync(new TimeSeriesQuery("dev-1"), Ct)).Items);
    }

    [Fact]
    public async Task Null_data_is_refused()
    {
        var store = await CreateStoreAsync();

        await Assert.ThrowsAsync<StorageValidationException>(() => store.SaveAsync(new TimeSeriesRecord("dev-1", "t", T(2026, 1, 1), null!), Ct).AsTask());
    }

    [Fact]
    public async Task Largest_allowed_id_type_and_data_are_accepted()
    {
        var store = await CreateStoreAsync();
        var record = new TimeSeriesRecord(new string('i', 200), new string('é', 100), T(2026, 1, 1), new string('d', 1 << 20));

        await store.SaveAsync(record, Ct);

        Assert.Equal([record], await store.GetAsync(record.Id, record.Type, record.Time, Ct));
        Assert.Equal(record, Assert.Single((await store.QueryAsync(new TimeSeriesQuery(record.Id, record.Type), Ct)).Items));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(TimeSeriesQuery.MaxLimit + 1)]
    public async Task Limit_outside_one_to_max_is_refused(int limit)
    {
        var store = await CreateStoreAsync();

        var error = await Assert.ThrowsAsync<StorageValidationException>(() => store.QueryAsync(new TimeSeriesQuery("dev-1", Limit: limit), Ct).AsTask());
        Assert.Contains("Limit", error.Message);
    }

    [Fact]
    public async Task Reversed_range_is_refused()
    {
        var store = await CreateStoreAsync();

        await Assert.ThrowsAsync<StorageValidationException>(() => store.QueryAsync(new TimeSeriesQuery("dev-1", From: T(2026, 2, 1), To: T(2026, 1, 1)), Ct).AsTask());
        await Assert.ThrowsAsync<StorageValidationException>(() => store.DeleteRangeAsync("dev-1", null, T(2026, 2, 1), T(2026, 1, 1), Ct).AsTask());
    }

    [Fact]
    public async Task Invalid_id_or_type_is_refused_by_reads_and_deletes()
    {
        var store = await CreateStoreAsync();

        await Assert.ThrowsAsync<StorageValidationException>(() => store.QueryAsync(new TimeSeriesQuery(""), Ct).AsTask());
        await Assert.ThrowsAsync<StorageValidationException>(() => store.QueryAsync(new TimeSeriesQuery("dev-1", "a\0b"), Ct).AsTask());
        await Assert.ThrowsAsync<StorageValidationException>(() => store.GetLatestAsync(new string('x', 300), Ct).AsTask());
        await Assert.ThrowsAsync<StorageValidationException>(() => store.GetAsync("dev-1", "", T(2026, 1, 1), Ct).AsTask());
        await Assert.ThrowsAsync<StorageValidationException>(() => store.DeleteAsync("", "t", T(2026, 1, 1), Ct).AsTask());
        await Assert.ThrowsAsync<StorageValidationException>(() => store.DeleteRecordAsync(new TimeSeriesRecord("dev-1", "t\0", T(2026, 1, 1), "{}"), Ct).AsTask());
        await Assert.ThrowsAsync<StorageValidationException>(() => store.DeleteRangeAsync("dev-1", "", T(2026, 1, 1), T(2026, 1, 2), Ct).AsTask());
    }

    [Fact]
    public async Task Tampered_or_foreign_continuation_token_is_refused_with_a_typed_error()
    {
        var store = await CreateStoreAsync();
        await store.SaveManyAsync(SpreadOverMonths(), Ct);
        var query = new TimeSeriesQuery("dev-1", Limit: 10);
        var token = (await store.QueryAsync(query, Ct)).Continuation;
        Assert.NotNull(token);

        // Every single-character change of the token is detected.
        const string Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        for (var i = 0; i < token.Length; i++)
        {
            var replacement = Alphabet[(Alphabet.IndexOf(token[i]) + 17) % Alphabet.Length];
            var tampered = string.Concat(token.AsSpan(0, i), replacement.ToString(), token.AsSpan(i + 1));
            await Assert.ThrowsAsync<InvalidContinuationTokenException>(() => store.QueryAsync(query with { Continuation = tampered }, Ct).AsTask());
        }
        foreach (var garbage in new[] { "", "!!!", "AAAA", token[..^2], token + "AA" })
        {
            await Assert.ThrowsAsync<InvalidContinuationTokenException>(() => store.QueryAsync(query with { Continuation = garbage }, Ct).AsTask());
        }
        // A token belongs to its query: another series, type, order or range refuses it.
        foreach (var other in new[] { query with { Id = "dev-2" }, query with { Type = "sen:loc" }, query with { Descending = false }, query with { From = T(2026, 1, 1) } })
        {
            await Assert.ThrowsAsync<InvalidContinuationTokenException>(() => store.QueryAsync(other with { Continuation = token }, Ct).AsTask());
        }
        // ... but the page size may change between pages.
        var next = await store.QueryAsync(query with { Limit = 3, Continuation = token }, Ct);
        Assert.Equal(3, next.Items.Count);
    }
}
