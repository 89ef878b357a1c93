using M2M.Storage.Forwarding;
using M2M.Storage.TimeSeries;

namespace M2M.Storage.Tests;

public sealed class FeedCodecTests
{
    private static readonly TimeSeriesRecord Sample = new("dev-é", "sen:loc", new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero).AddTicks(7), """{"lat":48.85,"txt":"ü"}""");

    [Fact]
    public void An_entry_decodes_to_the_items_it_was_built_from_numbered_from_its_first_sequence()
    {
        var builder = new FeedCodec.Builder();
        builder.Add(FeedItemKind.Record, Sample);
        builder.Add(FeedItemKind.Event, Sample with { Type = "command_acknowledged", Data = "{}" });
        var group = builder.ToGroup(Guid.Empty);

        var items = new List<FeedItem>();
        FeedCodec.Decode(group.Payload, 41, 0, items, 10);

        Assert.Equal(2, group.Count);
        Assert.Equal([new FeedItem(41, FeedItemKind.Record, Sample), new FeedItem(42, FeedItemKind.Event, Sample with { Type = "command_acknowledged", Data = "{}" })], items);
        Assert.Equal(0, builder.Count);
    }

    [Fact]
    public void Decoding_skips_items_up_to_the_position_and_stops_at_the_limit()
    {
        var builder = new FeedCodec.Builder();
        for (var i = 0; i < 5; i++)
        {
            builder.Add(FeedItemKind.Record, Sample with { Data = $"{i}" });
        }
        var payload = builder.ToGroup(Guid.Empty).Payload;

        var items = new List<FeedItem>();
        FeedCodec.Decode(payload, 1, 2, items, 2);

        Assert.Equal([3L, 4], items.Select(i => i.Sequence));
    }

    [Fact]
    public void Every_truncation_of_an_entry_is_refused_as_malformed()
    {
        var builder = new FeedCodec.Builder();
        builder.Add(FeedItemKind.Record, Sample);
        var payload = builder.ToGroup(Guid.Empty).Payload;

        for (var length = 0; length < payload.Length; length++)
        {
            Assert.Throws<FormatException>(() => FeedCodec.Decode(payload.AsSpan(0, length), 1, 0, [], 10));
        }
    }
}
