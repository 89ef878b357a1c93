using System.Buffers.Binary;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using M2M.Storage.TimeSeries;

namespace M2M.Storage.Contracts;

/// <summary>
/// Record identity, common to every backend: a record is <c>(id, type, time, data)</c>. An identical record
/// saved again is stored once; records differing only in data at one instant are all kept, ordered by their
/// content discriminator, paged exactly, and the latest value at one instant is the greatest discriminator.
/// </summary>
public abstract partial class TimeSeriesStoreContract
{
    private static readonly DateTimeOffset Instant = T(2026, 2, 1, 12, 0, 0);

    /// <summary>Five records of "t" and three of "u" at <see cref="Instant"/>, differing only in data, plus neighbours.</summary>
    private static List<TimeSeriesRecord> OneInstant()
    {
        List<TimeSeriesRecord> records = [R("dev-1", "t", Instant.AddTicks(-1)), R("dev-1", "t", Instant.AddTicks(1)), R("dev-1", "a", Instant), R("dev-1", "z", Instant)];
        records.AddRange(Enumerable.Range(0, 5).Select(i => R("dev-1", "t", Instant, $$"""{"temp":{{20 + i}}}""")));
        records.AddRange(Enumerable.Range(0, 3).Select(i => R("dev-1", "u", Instant, $$"""{"volt":{{12 + i}}}""")));
        return records;
    }

    [Fact]
    public async Task Saving_an_identical_record_again_stores_it_once()
    {
        var store = await CreateStoreAsync();
        var record = R("dev-1", "t", Instant, """{"v":1}""");

        await store.SaveAsync(record, Ct);
        // Redelivered: alone, twice in one batch, and beside another record.
        await store.SaveAsync(record, Ct);
        await store.SaveManyAsync([record, record], Ct);
        await store.SaveManyAsync([R("dev-1", "t", Instant.AddMinutes(-1)), record], Ct);

        Assert.Equal([record], await store.GetAsync("dev-1", "t", Instant, Ct));
        Assert.Single((await store.QueryAsync(new TimeSeriesQuery("dev-1", From: Instant), Ct)).Items);
        Assert.Single((await store.QueryAsync(new TimeSeriesQuery("dev-1", "t", From: Instant), Ct)).Items);
        Assert.Equal(2, (await store.QueryAsync(new TimeSeriesQuery("dev-1"), Ct)).Items.Count);
        Assert.Equal(record, Assert.Single(await store.GetLatestAsync("dev-1", Ct)));
    }

    [Fact]
    public async Task Records_differing_only_in_data_at_one_instant_are_all_kept()
    {
        var store = await CreateStoreAsync();
        var first = R("dev-1", "t", Instant, """{"v":1}""");
        var second = R("dev-1", "t", Instant, """{"v":2}""");
        var third = R("dev-1", "t", Instant, """{"v":3}""");
        var fourth = R("dev-1", "t", Instant, """{"v":1} """);

        // One by one, in one batch, and again after they were stored.
        await store.SaveAsync(first, Ct);
        await store.SaveManyAsync([second, third], Ct);
        await store.SaveAsync(fourth, Ct);
        await store.SaveManyAsync([third, first], Ct);

        List<TimeSeriesRecord> all = [first, second, third, fourth];
        foreach (var descending in new[] { true, false })
        {
            Assert.Equal(Ordered(all, descending), (await store.QueryAsync(new TimeSeriesQuery("dev-1", Descending: descending), Ct)).Items);
            Assert.Equal(Ordered(all, descending), (await store.QueryAsync(new TimeSeriesQuery("dev-1", "t", Descending: descending), Ct)).Items);
        }
        Assert.Equal(Ordered(all, descending: false), await store.GetAsync("dev-1", "t", Instant, Ct));
    }

    [Theory]
    [InlineData(true, null, 1)]
    [InlineData(false, null, 1)]
    [InlineData(true, "t", 1)]
    [InlineData(false, "t", 1)]
    [InlineData(true, null, 2)]
    [InlineData(false, null, 3)]
    [InlineData(true, "u", 2)]
    [InlineData(false, "t", 2)]
    public async Task Paging_through_records_of_one_instant_returns_each_once_in_order(bool descending, string? type, int limit)
    {
        var store = await CreateStoreAsync();
        var records = OneInstant();
        await store.SaveManyAsync(records[..6], Ct);
        await store.SaveManyAsync(records[6..], Ct);

        var read = await ReadAllPages(store, new TimeSeriesQuery("dev-1", type, Descending: descending, Limit: limit));

        Assert.Equal(Ordered(records.Where(r => type is null || r.Type == type), descending), read);
    }

    [Fact]
    public async Task Paging_resumes_exactly_at_a_record_of_a_shared_instant_when_others_arrive_meanwhile()
    {
        var store = await CreateStoreAsync();
        var records = OneInstant();
        await store.SaveManyAsync(records, Ct);
        var query = new TimeSeriesQuery("dev-1", "t", Descending: false, Limit: 3);
        var page = await store.QueryAsync(query, Ct);
        var expected = Ordered(records.Where(r => r.Type == "t"), descending: false);
        Assert.Equal(expected[..3], page.Items);

        // More records of that instant: those ordered after the position are returned, those before are not.
        var late = Enumerable.Range(0, 20).Select(i => R("dev-1", "t", Instant, $$"""{"late":{{i}}}""")).ToList();
        await store.SaveManyAsync(late, Ct);
        var rest = new List<TimeSeriesRecord>();
        for (var next = page.Continuation; next is not null;)
        {
            var more = await store.QueryAsync(query with { Continuation = next }, Ct);
            rest.AddRange(more.Items);
            next = more.Continuation;
        }

        var position = page.Items[^1];
        var after = Ordered(expected.Skip(3).Concat(late.Where(r => Ordered([r, position], descending: false)[0] == position)), descending: false);
        Assert.Equal(after, rest);
    }

    [Fact]
    public async Task Latest_at_one_instant_is_the_record_with_the_greatest_discriminator_whatever_the_order_of_saves()
    {
        var store = await CreateStoreAsync();
        List<TimeSeriesRecord> Candidates(string id) => [.. Enumerable.Range(0, 6).Select(i => R(id, "t", Instant, $$"""{"n":{{i}}}"""))];
        List<TimeSeriesRecord>[] Orders(string id)
        {
            var candidates = Candidates(id);
            return [candidates, [.. candidates.AsEnumerable().Reverse()], [.. candidates.OrderBy(D)], [.. candidates.OrderByDescending(D)]];
        }

        for (var k = 0; k < 4; k++)
        {
            // Saved one by one (after an older record), and all in one batch: the same latest value.
            var separately = $"dev-s{k}";
            await store.SaveAsync(R(separately, "t", Instant.AddSeconds(-1)), Ct);
            foreach (var record in Orders(separately)[k])
            {
                await store.SaveAsync(record, Ct);
            }
            Assert.Equal(Candidates(separately).MaxBy(D), Assert.Single(await store.GetLatestAsync(separately, Ct)));

            var batched = $"dev-b{k}";
            await store.SaveManyAsync(Orders(batched)[k], Ct);
            Assert.Equal(Candidates(batched).MaxBy(D), Assert.Single(await store.GetLatestAsync(batched, Ct)));

            // A record one tick newer replaces it, whatever its discriminator.
            await store.SaveManyAsync([R(batched, "t", Instant.AddTicks(1), """{"newer":true}""")], Ct);
            Assert.Equal("""{"newer":true}""", Assert.Single(await store.GetLatestAsync(batched, Ct)).Data);
        }
    }

    [Fact]
    public async Task Get_returns_every_record_of_the_instant_in_discriminator_order()
    {
        var store = await CreateStoreAsync();
        var records = OneInstant();
        await store.SaveManyAsync(records, Ct);

        Assert.Equal(Ordered(records.Where(r => r.Type == "t" && r.Time == Instant), descending: false), await store.GetAsync("dev-1", "t", Instant, Ct));
        Assert.Equal(Ordered(records.Where(r => r.Type == "u"), descending: false), await store.GetAsync("dev-1", "u", Instant, Ct));
        Assert.Single(await store.GetAsync("dev-1", "t", Instant.AddTicks(1), Ct));
    }

    [Fact]
    public async Task Delete_removes_every_record_of_the_instant_and_the_latest_falls_back_before_it()
    {
        var store = await CreateStoreAsync();
        var records = OneInstant().Where(r => r.Time <= Instant).ToList();
        await store.SaveManyAsync(records, Ct);

        Assert.Equal(5, await store.DeleteAsync("dev-1", "t", Instant, Ct));

        Assert.Empty(await store.GetAsync("dev-1", "t", Instant, Ct));
        var remaining = records.Where(r => r.Type != "t" || r.Time != Instant).ToList();
        Assert.Equal(Ordered(remaining, descending: true), (await store.QueryAsync(new TimeSeriesQuery("dev-1"), Ct)).Items);
        Assert.Equal(Latest(remaining), (await store.GetLatestAsync("dev-1", Ct)).OrderBy(r => r.Type, StringComparer.Ordinal));
        Assert.Equal(Instant.AddTicks(-1), (await store.GetLatestAsync("dev-1", Ct)).Single(r => r.Type == "t").Time);
    }

    [Fact]
    public async Task Delete_record_removes_only_that_record_of_the_instant()
    {
        var store = await CreateStoreAsync();
        var records = OneInstant().Where(r => r.Time <= Instant).ToList();
        await store.SaveManyAsync(records, Ct);
        var sameInstant = Ordered(records.Where(r => r.Type == "t" && r.Time == Instant), descending: false);

        // The greatest of the instant (the latest value) goes: the next one of the same instant becomes latest.
        Assert.True(await store.DeleteRecordAsync(sameInstant[^1], Ct));
        Assert.False(await store.DeleteRecordAsync(sameInstant[^1], Ct));
        Assert.False(await store.DeleteRecordAsync(sameInstant[0] with { Data = """{"temp":99}""" }, Ct));

        Assert.Equal(sameInstant[..^1], await store.GetAsync("dev-1", "t", Instant, Ct));
        Assert.Equal(sameInstant[^2], (await store.GetLatestAsync("dev-1", Ct)).Single(r => r.Type == "t"));
        Assert.Equal(Ordered(sameInstant[..^1], descending: true), (await store.QueryAsync(new TimeSeriesQuery("dev-1", "t", From: Instant), Ct)).Items);

        // A record that is not the latest: the latest stays.
        Assert.True(await store.DeleteRecordAsync(sameInstant[0], Ct));
        Assert.Equal(sameInstant[^2], (await store.GetLatestAsync("dev-1", Ct)).Single(r => r.Type == "t"));
        Assert.Equal(sameInstant[1..^1], await store.GetAsync("dev-1", "t", Instant, Ct));
    }

    [Fact]
    public async Task Continuation_token_of_the_format_before_discriminators_is_refused()
    {
        var store = await CreateStoreAsync();
        await store.SaveManyAsync(OneInstant(), Ct);
        var query = new TimeSeriesQuery("dev-1", Limit: 2, Descending: false);
        Assert.NotNull((await store.QueryAsync(query, Ct)).Continuation);

        // A well-formed version-1 token of this very query (position: time and type only).
        var old = VersionOneToken(query, Instant.UtcTicks, "t");

        await Assert.ThrowsAsync<InvalidContinuationTokenException>(() => store.QueryAsync(query with { Continuation = old }, Ct).AsTask());
    }

    /// <summary>
    /// A token as the code before record discriminators issued it:
    /// <c>base64url(1 │ flags │ ticks i64 LE │ type │ first 8 bytes of SHA-256(payload │ fingerprint))</c>.
    /// </summary>
    private static string VersionOneToken(TimeSeriesQuery query, long ticks, string type)
    {
        var from = query.From?.UtcTicks ?? 0;
        var to = query.To?.UtcTicks ?? DateTimeOffset.MaxValue.UtcTicks;
        var fingerprint = Encoding.UTF8.GetBytes($"{query.Id}\0{query.Type}\0{query.Type is null}\0{from}\0{to}\0{query.Descending}");
        var payload = new byte[10 + Encoding.UTF8.GetByteCount(type)];
        payload[0] = 1;
        payload[1] = (byte)((query.Descending ? 1 : 0) | (query.Type is null ? 0 : 2));
        BinaryPrimitives.WriteInt64LittleEndian(payload.AsSpan(2), ticks);
        Encoding.UTF8.GetBytes(type, payload.AsSpan(10));
        var mac = SHA256.HashData([.. payload, .. fingerprint]);
        return Base64Url.EncodeToString([.. payload, .. mac.AsSpan(0, 8)]);
    }
}
