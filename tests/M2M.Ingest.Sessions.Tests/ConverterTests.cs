using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using M2M.Ingest.Converters;
using M2M.Messaging;
using M2M.Storage.Entities;
using M2M.Storage.Rocks;
using M2M.Storage.Rocks.Registry;
using M2M.Storage.TimeSeries;
using M2M.Testing;

namespace M2M.Ingest.Sessions.Tests;

/// <summary>
/// Translated channels over real sockets: the raw frame is durable before the barrier is answered, the
/// in-process converter's records are stored with it, and a converter that fails loses nothing.
/// </summary>
public sealed class ConverterTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    // Checksums computed independently.
    private const string Rmc = "$GPRMC,123519.00,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*44";
    private const string Gga = "$GPGGA,123519.00,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*69";
    private static readonly DateTimeOffset FixTime = new(1994, 3, 23, 12, 35, 19, TimeSpan.Zero);

    private static JsonElement Json(TimeSeriesRecord record) => JsonDocument.Parse(record.Data).RootElement.Clone();

    [Fact]
    public async Task A_frame_on_a_translated_channel_is_stored_raw_before_the_barrier_is_answered_on_both_protocols()
    {
        await using var server = await DeviceServer.StartAsync();
        var m2mpIdent = Idents.New();
        var alipIdent = Idents.New();
        var m2mpId = (await server.Devices.CreateAsync(m2mpIdent, cancellationToken: Ct)).Id;
        var alipId = (await server.Devices.CreateAsync(alipIdent, cancellationToken: Ct)).Id;
        await server.Devices.SetChannelTranslationAsync(m2mpId, 10, "can:.*", "canbus", Ct);
        await server.Devices.SetChannelTranslationAsync(alipId, 10, "can", "canbus", Ct);
        var announced = new List<BusMessage>();
        using var subscription = server.Bus.Subscribe(Topics.Converter("canbus"), m =>
        {
            lock (announced)
            {
                announced.Add(m);
            }
            return ValueTask.CompletedTask;
        });

        await using (var m2mp = await server.ConnectM2mpAsync())
        {
            await m2mp.IdentifyNewAsync(m2mpIdent);
            await m2mp.SendDataAsync("can:0x18", [0xCA, 0xFE, 0x00, 0xFF]);
            await m2mp.PingAsync(1);
            // Read at once, no waiting: the barrier was answered, so the raw frame is already stored.
            var raw = Assert.Single(await server.RecordsAsync(m2mpId, "_converter:canbus"));
            Assert.Equal("""{"topic":"canbus","channel":"can:0x18","payload_hex":"cafe00ff"}""", raw.Data);
            Assert.DoesNotContain(await server.RecordsAsync(m2mpId), r => r.Type == "can:0x18");
        }

        await using (var alip = await server.ConnectAlipAsync())
        {
            await alip.IdentifyAsync(alipIdent);
            await alip.ExpectAsync("S GA");
            await alip.SendAsync("E 1700000000 can 18#CAFE");
            await alip.BarrierAsync();
            var raw = Assert.Single(await server.RecordsAsync(alipId, "_converter:canbus"));
            Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1700000000), raw.Time);
            Assert.Equal(("canbus", "can", Convert.ToHexStringLower("18#CAFE"u8)),
                (Json(raw).GetProperty("topic").GetString(), Json(raw).GetProperty("channel").GetString(), Json(raw).GetProperty("payload_hex").GetString()));
        }

        // External converters are told on the bus subject converter.canbus, as before.
        lock (announced)
        {
            Assert.Equal(2, announced.Count);
            Assert.Equal("cafe00ff", announced[0].GetString("payload_hex"));
            Assert.Equal($"dev-{alipId:D}", announced[1].GetString("key"));
        }
    }

    [Fact]
    public async Task Nmea_sentences_on_a_translated_channel_become_locations_stored_with_the_raw_frame_before_the_barrier()
    {
        await using var server = await DeviceServer.StartAsync();
        var ident = Idents.New();
        var id = (await server.Devices.CreateAsync(ident, cancellationToken: Ct)).Id;
        await server.Devices.SetChannelTranslationAsync(id, 10, "gps", NmeaConverter.TopicName, Ct);

        await using var device = await server.ConnectM2mpAsync();
        await device.IdentifyNewAsync(ident);
        await device.SendTextAsync("gps", Rmc + "\r\n" + Gga + "\r\n");
        await device.PingAsync(7);

        var location = Assert.Single(await server.RecordsAsync(id, "sen:loc"));
        Assert.Equal(FixTime, location.Time);
        Assert.Equal("""{"lat":48.1173,"lon":11.5166667,"spd":41.48,"alt":545.4}""", location.Data);
        var raw = Json(Assert.Single(await server.RecordsAsync(id, "_converter:nmea")));
        Assert.Equal(("converted", 1), (raw.GetProperty("result").GetString(), raw.GetProperty("converted").GetInt32()));
        Assert.Equal(Rmc + "\r\n" + Gga + "\r\n", Encoding.ASCII.GetString(Convert.FromHexString(raw.GetProperty("payload_hex").GetString()!)));
        Assert.Contains(await server.TimeSeries.GetLatestAsync($"dev-{id:D}", Ct), r => r.Type == "sen:loc" && r.Time == FixTime);

        // A frame the converter cannot read is kept raw with the reason; the session goes on.
        await device.SendTextAsync("gps", "$GPRMC,garbage*00");
        await device.PingAsync(8);
        var refused = (await server.RecordsAsync(id, "_converter:nmea")).Select(Json).Single(r => r.GetProperty("result").GetString() == "refused");
        Assert.Contains("checksum", refused.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Single(await server.RecordsAsync(id, "sen:loc"));
    }

    [Fact]
    public async Task A_converter_that_throws_times_out_or_returns_garbage_loses_no_raw_frame_and_keeps_the_session()
    {
        await using var server = await DeviceServer.StartAsync(
            b => b.Services.AddChannelConverter<ThrowingConverter>().AddChannelConverter<GarbageConverter>().AddChannelConverter<StuckConverter>(),
            "ConverterTimeout=00:00:00.300");
        var ident = Idents.New();
        var id = (await server.Devices.CreateAsync(ident, cancellationToken: Ct)).Id;
        await server.Devices.SetChannelTranslationAsync(id, 1, "t", ThrowingConverter.Name, Ct);
        await server.Devices.SetChannelTranslationAsync(id, 2, "g", GarbageConverter.Name, Ct);
        await server.Devices.SetChannelTranslationAsync(id, 3, "s", StuckConverter.Name, Ct);

        await using var device = await server.ConnectM2mpAsync();
        await device.IdentifyNewAsync(ident);
        await device.SendTextAsync("t", "first");
        await device.SendTextAsync("t", "second");
        await device.SendTextAsync("g", "garbage");
        await device.SendTextAsync("s", "stuck");
        await device.SendTextAsync("plain", "still stored");
        await device.PingAsync(1);

        var thrown = (await server.RecordsAsync(id, "_converter:" + ThrowingConverter.Name)).Select(Json).ToList();
        Assert.Equal(["first", "second"], thrown.Select(r => Encoding.UTF8.GetString(Convert.FromHexString(r.GetProperty("payload_hex").GetString()!))).Order());
        Assert.All(thrown, r => Assert.Equal(("failed", "InvalidOperationException: boom"), (r.GetProperty("result").GetString(), r.GetProperty("error").GetString())));

        var garbage = Json(Assert.Single(await server.RecordsAsync(id, "_converter:" + GarbageConverter.Name)));
        Assert.Equal(("rejected", 1000, 5), (garbage.GetProperty("result").GetString(), garbage.GetProperty("converted").GetInt32(), garbage.GetProperty("rejected").GetInt32()));
        Assert.Equal("""{"ok":true}""", Assert.Single(await server.RecordsAsync(id, "good")).Data);
        Assert.DoesNotContain(await server.RecordsAsync(id, "_server"), r => r.Data.Contains("forged", StringComparison.Ordinal));

        var stuck = Json(Assert.Single(await server.RecordsAsync(id, "_converter:" + StuckConverter.Name)));
        Assert.Equal("timeout", stuck.GetProperty("result").GetString());
        Assert.Single(await server.RecordsAsync(id, "plain"));

        // Still connected and answering.
        await device.SendTextAsync("t", "third");
        await device.PingAsync(2);
        Assert.Equal(3, (await server.RecordsAsync(id, "_converter:" + ThrowingConverter.Name)).Count);
    }

    [Fact]
    public async Task Two_converters_of_one_topic_stop_the_start()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => DeviceServer.StartAsync(b => b.Services.AddChannelConverter<SecondNmeaConverter>()));

        Assert.Contains("Two converters serve the topic 'nmea'", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Nothing_a_barrier_answered_on_a_translated_channel_is_lost_when_the_server_is_killed()
    {
        using var data = new TempDirectory("m2m-kill-conv");
        // The rule is in the registry before the server starts: every device's "gps" goes to the NMEA converter.
        using (var store = RocksStore.Open(Path.Combine(data.Path, "db")))
        {
            var registry = new RocksRegistry(store);
            await new DeviceStore(registry, new DomainStore(registry)).SetChannelTranslationAsync(null, 1, "gps", NmeaConverter.TopicName, Ct);
        }
        var ident = Idents.New();
        var acknowledged = new List<DateTimeOffset>();
        await using (var server = await ChildServer.StartAsync(PersistenceTests.KillableServerArgs(data.Path)))
        {
            using var client = new TcpClient();
            await client.ConnectAsync(server.Alip, Ct);
            var device = new AlipDevice(client);
            await device.IdentifyAsync(ident);
            await device.ExpectAsync("S GA");
            var fix = new DateTimeOffset(2026, 1, 10, 8, 0, 0, TimeSpan.Zero);
            for (var round = 0; round < 5; round++)
            {
                var lines = new StringBuilder();
                var times = new List<DateTimeOffset>();
                for (var i = 0; i < 50; i++, fix = fix.AddSeconds(1))
                {
                    lines.Append("D gps ").Append(Sentence(fix)).Append('\n');
                    times.Add(fix);
                }
                lines.Append($"A {round}\n");
                await device.SendRawAsync(Encoding.ASCII.GetBytes(lines.ToString()));
                Assert.Equal($"B {round}", await device.ReadLineAsync());
                acknowledged.AddRange(times);
            }
            await device.SendRawAsync(Encoding.ASCII.GetBytes($"D gps {Sentence(fix)}\n"));
            await server.KillAsync();
        }

        using var reopened = RocksStore.Open(Path.Combine(data.Path, "db"));
        var series = new RocksTimeSeriesStore(reopened);
        var seriesId = $"dev-{DeviceIds.FromIdent(ident):D}";
        var locations = (await series.QueryAsync(new TimeSeriesQuery(seriesId, "sen:loc", Descending: false, Limit: 10_000), Ct)).Items;
        var raws = (await series.QueryAsync(new TimeSeriesQuery(seriesId, "_converter:nmea", Descending: false, Limit: 10_000), Ct)).Items;
        Assert.Equal(250, acknowledged.Count);
        Assert.Empty(acknowledged.Except(locations.Select(l => l.Time)));
        Assert.True(raws.Count >= acknowledged.Count, $"{raws.Count} raw frames stored for {acknowledged.Count} acknowledged");
    }

    /// <summary>An RMC sentence (with its checksum) of a fix at <paramref name="time"/>.</summary>
    private static string Sentence(DateTimeOffset time)
    {
        var body = $"GPRMC,{time:HHmmss}.00,A,4852.000,N,00221.000,E,010.0,000.0,{time:ddMMyy},,,A";
        byte sum = 0;
        foreach (var c in body)
        {
            sum ^= (byte)c;
        }
        return $"${body}*{sum:X2}";
    }

    private sealed class ThrowingConverter : IChannelConverter
    {
        public const string Name = "test-throws";

        public string Topic => Name;

        public ValueTask<IReadOnlyList<ConvertedRecord>> ConvertAsync(ConverterInput input, CancellationToken cancellationToken)
            => throw new InvalidOperationException("boom");
    }

    /// <summary>One good record among records no store should take: reserved, invalid or oversized types, data that is not JSON, and far too many.</summary>
    private sealed class GarbageConverter : IChannelConverter
    {
        public const string Name = "test-garbage";

        public string Topic => Name;

        public ValueTask<IReadOnlyList<ConvertedRecord>> ConvertAsync(ConverterInput input, CancellationToken cancellationToken)
        {
            var records = new List<ConvertedRecord>
            {
                new("good", input.Time, """{"ok":true}"""),
                new("_server", input.Time, """{"type":"forged"}"""),
                new("bad", input.Time, "not json"),
                new("", input.Time, "{}"),
                new(new string('x', 300), input.Time, "{}"),
            };
            // Then 1000 valid ones: with the good one above, one past the limit of 1000 records per frame.
            records.AddRange(Enumerable.Range(0, 1000).Select(i => new ConvertedRecord("many", input.Time, "{}")));
            return ValueTask.FromResult<IReadOnlyList<ConvertedRecord>>(records);
        }
    }

    /// <summary>Never answers and ignores its cancellation token.</summary>
    private sealed class StuckConverter : IChannelConverter
    {
        public const string Name = "test-stuck";

        public string Topic => Name;

        public async ValueTask<IReadOnlyList<ConvertedRecord>> ConvertAsync(ConverterInput input, CancellationToken cancellationToken)
        {
            await Task.Delay(TimeSpan.FromSeconds(30), CancellationToken.None);
            return [];
        }
    }

    private sealed class SecondNmeaConverter : IChannelConverter
    {
        public string Topic => NmeaConverter.TopicName;

        public ValueTask<IReadOnlyList<ConvertedRecord>> ConvertAsync(ConverterInput input, CancellationToken cancellationToken)
            => ValueTask.FromResult<IReadOnlyList<ConvertedRecord>>([]);
    }
}
