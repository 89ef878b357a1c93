using M2M.Storage.Forwarding;
using M2M.Storage.TimeSeries;

namespace M2M.Storage.Contracts;

/// <summary>
/// The behaviour every backend's forwarding feed must have (<see cref="IForwardingFeed"/> and the
/// feed part of <see cref="ITimeSeriesStore.SaveManyAsync(IReadOnlyList{TimeSeriesRecord}, IReadOnlyList{FeedGroup}, CancellationToken)"/>).
/// </summary>
public abstract class ForwardingFeedContract
{
    /// <summary>The time series and the feed of one fresh, empty database.</summary>
    protected abstract ValueTask<(ITimeSeriesStore Series, IForwardingFeed Feed)> OpenAsync();

    /// <summary>The same database closed and opened again (a restart).</summary>
    protected abstract ValueTask<(ITimeSeriesStore Series, IForwardingFeed Feed)> ReopenAsync();

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly Guid DomainA = new("a0000000-0000-0000-0000-00000000000a");
    private static readonly Guid DomainB = new("b0000000-0000-0000-0000-00000000000b");

    private static TimeSeriesRecord R(int i, string id = "dev-1") =>
        new(id, "sen:temp", new DateTimeOffset(2026, 5, 1, 0, 0, 0, TimeSpan.Zero).AddSeconds(i), $$"""{"v":{{i}}}""");

    private static FeedGroup Group(Guid domain, FeedItemKind kind, params TimeSeriesRecord[] items)
    {
        var builder = new FeedCodec.Builder();
        foreach (var item in items)
        {
            builder.Add(kind, item);
        }
        return builder.ToGroup(domain);
    }

    [Fact]
    public async Task Feed_entries_are_committed_with_the_records_and_numbered_per_domain()
    {
        var (series, feed) = await OpenAsync();
        TimeSeriesRecord[] batch = [R(1), R(2), R(3)];

        await series.SaveManyAsync(batch, [Group(DomainA, FeedItemKind.Record, batch[0], batch[1]), Group(DomainB, FeedItemKind.Record, batch[2])], Ct);
        await series.SaveManyAsync([R(4)], [Group(DomainA, FeedItemKind.Record, R(4))], Ct);

        Assert.NotNull(await series.GetAsync("dev-1", "sen:temp", batch[2].Time, Ct));
        var a = await feed.ReadAsync(DomainA, 0, 100, Ct);
        Assert.Equal([1L, 2, 3], a.Select(i => i.Sequence));
        Assert.Equal([R(1), R(2), R(4)], a.Select(i => i.Item));
        Assert.All(a, i => Assert.Equal(FeedItemKind.Record, i.Kind));
        Assert.Equal([1L], (await feed.ReadAsync(DomainB, 0, 100, Ct)).Select(i => i.Sequence));
        Assert.Equal(3, await feed.GetLastSequenceAsync(DomainA, Ct));
        Assert.Equal(1, await feed.GetLastSequenceAsync(DomainB, Ct));
        Assert.Equal(0, await feed.GetLastSequenceAsync(Guid.NewGuid(), Ct));
        Assert.Equal([DomainA, DomainB], (await feed.GetDomainsAsync(Ct)).Order());
    }

    [Fact]
    public async Task Reading_after_a_position_returns_the_next_items_in_order_across_entries()
    {
        var (series, feed) = await OpenAsync();
        for (var e = 0; e < 5; e++)
        {
            var records = Enumerable.Range(e * 10, 10).Select(i => R(i)).ToArray();
            await series.SaveManyAsync(records, [Group(DomainA, FeedItemKind.Record, records)], Ct);
        }

        Assert.Equal(Enumerable.Range(8, 7).Select(i => (long)i), (await feed.ReadAsync(DomainA, 7, 7, Ct)).Select(i => i.Sequence));
        Assert.Equal([R(42)], (await feed.ReadAsync(DomainA, 42, 1, Ct)).Select(i => i.Item));
        Assert.Empty(await feed.ReadAsync(DomainA, 50, 10, Ct));
        Assert.Equal(50, (await feed.ReadAsync(DomainA, 0, 1000, Ct)).Count);
    }

    [Fact]
    public async Task Events_appended_alone_take_the_next_sequences_of_their_domain()
    {
        var (series, feed) = await OpenAsync();
        await series.SaveManyAsync([R(1)], [Group(DomainA, FeedItemKind.Record, R(1))], Ct);
        var ack = new TimeSeriesRecord("dev-1", "setting_acknowledged", R(2).Time, """{"name":"x"}""");

        await feed.AppendAsync([Group(DomainA, FeedItemKind.Event, ack)], Ct);
        await series.SaveManyAsync([R(3)], [Group(DomainA, FeedItemKind.Record, R(3))], Ct);

        var items = await feed.ReadAsync(DomainA, 0, 10, Ct);
        Assert.Equal([(1L, FeedItemKind.Record), (2L, FeedItemKind.Event), (3L, FeedItemKind.Record)], items.Select(i => (i.Sequence, i.Kind)));
        Assert.Equal(ack, items[1].Item);
    }

    [Fact]
    public async Task Trimming_removes_whole_entries_up_to_the_position_and_never_resets_the_sequence()
    {
        var (series, feed) = await OpenAsync();
        for (var e = 0; e < 3; e++)
        {
            var records = Enumerable.Range(e * 4, 4).Select(i => R(i)).ToArray();
            await series.SaveManyAsync(records, [Group(DomainA, FeedItemKind.Record, records)], Ct);
        }

        // Items 1-4 | 5-8 | 9-12: up to 6 removes the first entry only (the second still holds 7 and 8).
        await feed.TrimAsync(DomainA, 6, Ct);
        Assert.Equal(5, (await feed.ReadAsync(DomainA, 0, 100, Ct))[0].Sequence);
        Assert.Equal(7, (await feed.ReadAsync(DomainA, 6, 100, Ct))[0].Sequence);

        await feed.TrimAsync(DomainA, 12, Ct);
        Assert.Empty(await feed.ReadAsync(DomainA, 0, 100, Ct));
        Assert.Equal(12, await feed.GetLastSequenceAsync(DomainA, Ct));

        await series.SaveManyAsync([R(99)], [Group(DomainA, FeedItemKind.Record, R(99))], Ct);
        Assert.Equal([13L], (await feed.ReadAsync(DomainA, 12, 100, Ct)).Select(i => i.Sequence));
    }

    [Fact]
    public async Task Sequences_items_and_cursors_survive_a_restart()
    {
        var (series, feed) = await OpenAsync();
        await series.SaveManyAsync([R(1), R(2)], [Group(DomainA, FeedItemKind.Record, R(1), R(2))], Ct);
        var endpoint = Guid.NewGuid();
        await feed.SetCursorAsync(endpoint, new FeedCursor(1, 2), Ct);
        await feed.TrimAsync(DomainA, 2, Ct);
        await series.SaveManyAsync([R(3)], [Group(DomainA, FeedItemKind.Record, R(3))], Ct);

        (series, feed) = await ReopenAsync();

        Assert.Equal(new FeedCursor(1, 2), await feed.GetCursorAsync(endpoint, Ct));
        Assert.Equal(3, await feed.GetLastSequenceAsync(DomainA, Ct));
        Assert.Equal([R(3)], (await feed.ReadAsync(DomainA, 2, 10, Ct)).Select(i => i.Item));
        await series.SaveManyAsync([R(4)], [Group(DomainA, FeedItemKind.Record, R(4))], Ct);
        Assert.Equal([3L, 4], (await feed.ReadAsync(DomainA, 2, 10, Ct)).Select(i => i.Sequence));
    }

    [Fact]
    public async Task Cursors_are_kept_per_endpoint_and_removed_on_delete()
    {
        var (_, feed) = await OpenAsync();
        var (one, two) = (Guid.NewGuid(), Guid.NewGuid());

        await feed.SetCursorAsync(one, new FeedCursor(5, 5), Ct);
        await feed.SetCursorAsync(two, new FeedCursor(7, 9), Ct);
        await feed.DeleteCursorAsync(one, Ct);

        Assert.Null(await feed.GetCursorAsync(one, Ct));
        Assert.Equal(new FeedCursor(7, 9), await feed.GetCursorAsync(two, Ct));
    }
}
