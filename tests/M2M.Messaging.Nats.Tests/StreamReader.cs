using M2M.Storage.TimeSeries;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace M2M.Messaging.Nats.Tests;

/// <summary>Reads what the <c>storage</c> stream holds, by sequence number (no consumer: nothing is acknowledged).</summary>
internal static class StreamReader
{
    public static async Task<List<TimeSeriesRecord>> ReadRecordsAsync(string url, string stream)
    {
        await using var connection = new NatsConnection(new NatsOpts { Url = url });
        var js = new NatsJSContext(connection);
        var s = await js.GetStreamAsync(stream, cancellationToken: TestContext.Current.CancellationToken);
        var records = new List<TimeSeriesRecord>();
        for (var seq = s.Info.State.FirstSeq; seq <= s.Info.State.LastSeq && s.Info.State.Messages > 0; seq++)
        {
            var response = await s.GetAsync(new StreamMsgGetRequest { Seq = seq }, TestContext.Current.CancellationToken);
            StorageBatchCodec.Read(response.Message.Data.Span, records, out var invalid);
            Assert.Equal(0, invalid);
        }
        return records;
    }

    public static async Task<long> MessageCountAsync(string url, string stream)
    {
        await using var connection = new NatsConnection(new NatsOpts { Url = url });
        var s = await new NatsJSContext(connection).GetStreamAsync(stream, cancellationToken: TestContext.Current.CancellationToken);
        return s.Info.State.Messages;
    }

    public static TimeSeriesRecord Record(string series, int i) =>
        new(series, "sen:t", DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000 + i), $$"""{"v":{{i}},"s":"x\"y"}""");
}
