using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;
using M2M.Ingest.M2mp;
using M2M.Messaging;
using M2M.Storage.Entities;

namespace M2M.Ingest.Sessions.Tests;

/// <summary>The M2MP session behaviour (spec/m2mp.md "Session behaviour") against the shared server.</summary>
[Collection(SharedServerCollection.Name)]
public sealed class M2mpSessionTests(SharedServer shared)
{
    private DeviceServer Server => shared.Server;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static byte[] Hex(string hex) => Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal));

    [Fact]
    public async Task A_new_device_is_accepted_then_asked_for_its_capabilities_and_all_settings()
    {
        await using var device = await Server.ConnectM2mpAsync();
        var ident = Idents.New();
        await device.IdentifyAsync(ident);

        Assert.Equal("_sta [\"g\", \"cap\"]", (await device.ReadAsync())!.ToString());
        Assert.Equal("_set [\"ga\"]", (await device.ReadAsync())!.ToString());
        Assert.NotNull(await Server.Devices.GetByIdentAsync(ident, Ct));
    }

    [Fact]
    public async Task A_known_device_gets_pending_settings_then_one_cmd_array_per_command_in_order()
    {
        var ident = Idents.New();
        var id = (await Server.Devices.CreateAsync(ident, cancellationToken: Ct)).Id;
        await Server.Devices.SetSettingAsync(id, "gps_period", "15", Ct);
        await Server.Devices.SetSettingAsync(id, "apn", "x", Ct);
        var first = await Server.Devices.AddCommandAsync(id, "reboot", cancellationToken: Ct);
        var second = await Server.Devices.AddCommandAsync(id, "line1\nline2", cancellationToken: Ct);

        await using var device = await Server.ConnectM2mpAsync();
        await device.IdentifyAsync(ident);

        Assert.Equal("_set [\"sg\", \"apn=x\", \"gps_period=15\"]", (await device.ReadAsync())!.ToString());
        Assert.Equal($"_cmd [\"e\", \"{first}\", \"reboot\"]", (await device.ReadAsync())!.ToString());
        Assert.Equal($"_cmd [\"e\", \"{second}\", \"line1\", \"line2\"]", (await device.ReadAsync())!.ToString());
        Assert.Equal("_sta [\"g\", \"cap\"]", (await device.ReadAsync())!.ToString());
        await device.ExpectSilenceAsync(TimeSpan.FromMilliseconds(200));

        // Acknowledgements: setting value, status, command with response lines.
        await device.SendArrayAsync("_set", "g", "gps_period=15");
        await device.SendArrayAsync("_sta", "g", "cap=gps,can");
        await device.SendArrayAsync("_cmd", "a", first, "ok", "done");
        await device.PingAsync(1);

        Assert.Equal(["apn"], (await Server.Devices.GetSettingsToSendAsync(id, Ct)).Keys);
        Assert.Equal("gps,can", (await Server.Devices.GetStatusAsync(id, Ct))["cap"]);
        var acked = (await Server.Devices.GetCommandAsync(id, first, Ct))!;
        Assert.Equal(CommandState.Acknowledged, acked.State);
        Assert.Equal("ok\ndone", acked.Response);
        Assert.Equal(CommandState.Sent, (await Server.Devices.GetCommandAsync(id, second, Ct))!.State);
    }

    [Fact]
    public async Task The_settings_channel_gets_all_reports_and_deletes()
    {
        var ident = Idents.New();
        var id = (await Server.Devices.CreateAsync(ident, cancellationToken: Ct)).Id;
        await Server.Devices.SetSettingAsync(id, "a", "1", Ct);
        await Server.Devices.SetSettingAsync(id, "b", "2", Ct);
        await Server.Devices.SetStatusAsync(id, "cap", "x", Ct);

        await using var device = await Server.ConnectM2mpAsync();
        await device.IdentifyAsync(ident);
        Assert.Equal("_set [\"sg\", \"a=1\", \"b=2\"]", (await device.ReadAsync())!.ToString());

        await device.SendArrayAsync("_set", "ga");
        Assert.Equal("_set [\"sg\", \"a=1\", \"b=2\"]", (await device.ReadAsync())!.ToString());
        await device.SendArrayAsync("_set", "g", "a=1", "private=7");
        await device.SendArrayAsync("_set", "u", "b");
        await device.PingAsync(2);

        var settings = await Server.Devices.GetSettingsAsync(id, Ct);
        Assert.Equal(["a", "private"], settings.Select(s => s.Name));
        Assert.All(settings, s => Assert.False(s.Pending));
    }

    [Fact]
    public async Task Data_and_arrays_are_stored_by_channel()
    {
        await using var device = await Server.ConnectM2mpAsync();
        var ident = Idents.New();
        await device.IdentifyNewAsync(ident);

        // Spec vectors: sen:loc on channel 0, a 2-byte sen:* array on channel 2.
        await device.SendRawAsync(Hex("20 08 00 73 65 6e 3a 6c 6f 63"));
        await device.SendRawAsync(Hex("21 11 00 65 53 f1 00 42 43 66 66 40 16 66 66 00 2a 00 23"));
        await device.SendRawAsync(Hex("20 09 02 73 65 6e 3a 74 65 6d 70"));
        await device.SendRawAsync(Hex("42 00 0d 02 00 04 65 53 f1 00 00 04 32 31 2e 35"));
        await device.SendTextAsync("gps_raw", "$GPRMC,\"x\"");
        await device.SendArrayAsync("list", "a", "b\"c");
        // Undefined channel id 200.
        await device.SendRawAsync([0x21, 0x03, 200, (byte)'o', (byte)'k']);
        await device.PingAsync(9);

        var records = await Server.RecordsAsync((await Server.DeviceAsync(ident)).Id);
        var time = DateTimeOffset.FromUnixTimeSeconds(1700000000);
        var location = Assert.Single(records, r => r.Type == "sen:loc");
        Assert.Equal(time, location.Time);
        var json = JsonNode.Parse(location.Data)!;
        Assert.Equal(48.85, json["lat"]!.GetValue<double>(), 4);
        Assert.Equal(2.35, json["lon"]!.GetValue<double>(), 4);
        Assert.Equal(42, json["spd"]!.GetValue<double>());
        Assert.Equal(35, json["alt"]!.GetValue<double>());

        var temp = Assert.Single(records, r => r.Type == "sen:temp");
        Assert.Equal(time, temp.Time);
        Assert.Equal("\"21.5\"", temp.Data);
        Assert.Equal("\"$GPRMC,\\\"x\\\"\"", Assert.Single(records, r => r.Type == "gps_raw").Data);
        Assert.Equal("[\"a\",\"b\\\"c\"]", Assert.Single(records, r => r.Type == "list").Data);
        Assert.Equal("\"ok\"", Assert.Single(records, r => r.Type == "__channel_200").Data);
    }

    [Fact]
    public async Task Echo_channels_are_sent_back_unchanged_and_not_stored()
    {
        await using var device = await Server.ConnectM2mpAsync();
        var ident = Idents.New();
        await device.IdentifyNewAsync(ident);

        await device.SendDataAsync("echo", [1, 2, 3, 0, 255]);
        var echo = (await device.ReadAsync())!;
        Assert.Equal("echo", echo.Channel);
        Assert.Equal([1, 2, 3, 0, 255], echo.Payload);
        await device.SendTextAsync("echo:x", "hi");
        Assert.Equal("echo:x hi", (await device.ReadAsync())!.ToString());
        await device.PingAsync(3);
        Assert.DoesNotContain(await Server.RecordsAsync((await Server.DeviceAsync(ident)).Id), r => r.Type.StartsWith("echo", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Data_before_identification_is_dropped_and_the_connection_stays()
    {
        await using var device = await Server.ConnectM2mpAsync();
        var ident = Idents.New();
        await device.SendTextAsync("early", "lost");
        await device.SendArrayAsync("early_list", "lost");
        await device.PingAsync(1);
        await device.IdentifyNewAsync(ident);
        await device.SendTextAsync("late", "kept");
        await device.PingAsync(2);

        var records = await Server.RecordsAsync((await Server.DeviceAsync(ident)).Id);
        Assert.DoesNotContain(records, r => r.Type.StartsWith("early", StringComparison.Ordinal));
        Assert.Single(records, r => r.Type == "late");
    }

    [Fact]
    public async Task Before_identification_a_frame_over_the_small_limit_closes_the_connection_at_its_header()
    {
        await using var device = await Server.ConnectM2mpAsync();
        // Only the header of a 64 KiB data frame: refused before any of its body is awaited.
        await device.SendRawAsync(Hex("41 ff ff"));

        var frames = await device.ReadUntilClosedAsync(TimeSpan.FromSeconds(30));

        Assert.Empty(frames);
    }

    [Fact]
    public async Task After_identification_frames_up_to_the_full_limit_are_accepted()
    {
        await using var device = await Server.ConnectM2mpAsync();
        await device.IdentifyNewAsync(Idents.New());
        var payload = new byte[16 * 1024];
        Random.Shared.NextBytes(payload);

        await device.SendDataAsync("echo", payload);

        var echo = (await device.ReadAsync())!;
        Assert.Equal(payload, echo.Payload);
    }

    [Fact]
    public async Task An_invalid_ident_is_refused_and_the_device_may_retry()
    {
        await using var device = await Server.ConnectM2mpAsync();
        await device.SendIdentAsync("has space");
        var refused = (await device.ReadAsync())!;
        Assert.Equal((M2mpFrameKind.IdentificationResult, (byte)0), (refused.Kind, refused.Value));
        await device.IdentifyNewAsync(Idents.New());
    }

    [Fact]
    public async Task The_ping_is_answered_only_once_every_earlier_record_is_in_the_database()
    {
        await using var device = await Server.ConnectM2mpAsync();
        var ident = Idents.New();
        await device.IdentifyNewAsync(ident);
        var id = (await Server.DeviceAsync(ident)).Id;

        for (byte round = 1; round <= 3; round++)
        {
            var burst = new System.Buffers.ArrayBufferWriter<byte>();
            M2mpWriter.WriteChannelDefinition(burst, 5, "sen:temp");
            for (var i = 0; i < 300; i++)
            {
                M2mpWriter.WriteData(burst, 5, Encoding.ASCII.GetBytes($"{round}.{i}"));
            }
            M2mpWriter.WriteDevicePing(burst, round);
            await device.SendRawAsync(burst.WrittenSpan.ToArray());
            var answer = (await device.ReadAsync())!;
            Assert.Equal((M2mpFrameKind.DevicePing, round), (answer.Kind, answer.Value));
            // Read the database the moment the answer arrives.
            Assert.Equal(300 * round, (await Server.RecordsAsync(id, "sen:temp")).Count);
        }
    }

    [Theory]
    [InlineData("61 00 20 00 00 00")] // a data frame declaring 2 MiB
    [InlineData("07 00")] // an unknown control type
    [InlineData("ff")] // a type above 0x80
    [InlineData("22 05 00 09 61 62 63")] // an array item running past its frame
    public async Task A_protocol_violation_closes_only_the_offending_connection(string hex)
    {
        await using var bystander = await Server.ConnectM2mpAsync();
        await bystander.IdentifyNewAsync(Idents.New());
        await using var device = await Server.ConnectM2mpAsync();
        await device.IdentifyNewAsync(Idents.New());

        await device.SendRawAsync(Hex(hex));
        var frames = await device.ReadUntilClosedAsync();
        Assert.DoesNotContain(frames, f => f.Kind == M2mpFrameKind.DevicePing);

        await bystander.PingAsync(4);
    }

    [Fact]
    public async Task Disconnect_me_closes_this_connection_and_disconnect_us_closes_all_of_the_device()
    {
        var ident = Idents.New();
        await using var first = await Server.ConnectM2mpAsync();
        await first.IdentifyNewAsync(ident);
        await using var second = await Server.ConnectM2mpAsync();
        await second.IdentifyNewAsync(ident);
        await using var third = await Server.ConnectM2mpAsync();
        await third.IdentifyNewAsync(ident);
        var id = (await Server.DeviceAsync(ident)).Id;
        Assert.Equal(3, Server.Connections.GetByDevice(id).Count);

        await third.SendTextAsync("_special", "disconnect_me");
        await third.ReadUntilClosedAsync();
        await first.PingAsync(1);

        await first.SendTextAsync("_special", "disconnect_us");
        await first.ReadUntilClosedAsync();
        await second.ReadUntilClosedAsync();
        await DeviceServer.EventuallyAsync(() => Task.FromResult(!Server.Connections.IsConnected(id)), "no connection of the device left");
    }

    [Fact]
    public async Task A_translated_channel_goes_to_its_converter_topic_instead_of_storage()
    {
        var ident = Idents.New();
        var id = (await Server.Devices.CreateAsync(ident, cancellationToken: Ct)).Id;
        await Server.Devices.SetChannelTranslationAsync(id, 10, "can:.*", "canbus", Ct);
        var received = new TaskCompletionSource<BusMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var subscription = Server.Bus.Subscribe(Topics.Converter("canbus"), m =>
        {
            received.TrySetResult(m);
            return ValueTask.CompletedTask;
        });

        await using var device = await Server.ConnectM2mpAsync();
        await device.IdentifyNewAsync(ident);
        await device.SendDataAsync("can:0x18", [0xCA, 0xFE]);
        await device.SendTextAsync("other", "stored");
        await device.PingAsync(1);

        var message = await received.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.Equal("can:0x18", message.GetString("type"));
        Assert.Equal("CAFE", message.GetString("payload_hex"), ignoreCase: true);
        Assert.Equal($"dev-{id:D}", message.GetString("key"));
        var records = await Server.RecordsAsync(id);
        Assert.DoesNotContain(records, r => r.Type == "can:0x18");
        Assert.Single(records, r => r.Type == "other");
    }

    [Fact]
    public async Task The_connection_registry_shows_the_device_and_can_disconnect_it()
    {
        var ident = Idents.New();
        await using var device = await Server.ConnectM2mpAsync();
        await device.IdentifyNewAsync(ident);
        await device.SendTextAsync("x", "1");
        await device.PingAsync(1);
        var id = (await Server.DeviceAsync(ident)).Id;

        var info = Assert.Single(Server.Connections.GetByDevice(id));
        Assert.Equal(ident, info.Ident);
        Assert.Equal(Connections.DeviceProtocol.M2mp, info.Protocol);
        Assert.True(Server.Connections.IsConnected(id));
        Assert.True(info.MessagesIn >= 4);
        Assert.True(info.RecordsPublished >= 3);
        Assert.Equal(id, Server.Connections.Get(info.ConnectionId)!.DeviceId);
        Assert.Contains(Server.Connections.GetAll(), c => c.ConnectionId == info.ConnectionId);

        Assert.True(Server.Connections.Disconnect(info.ConnectionId, "test"));
        await device.ReadUntilClosedAsync();
        await DeviceServer.EventuallyAsync(() => Task.FromResult(Server.Connections.Get(info.ConnectionId) is null), "the connection unregistered");
        Assert.False(Server.Connections.Disconnect(info.ConnectionId, "again"));
    }

    [Fact]
    public async Task A_sensor_array_with_a_bad_time_item_is_dropped()
    {
        await using var device = await Server.ConnectM2mpAsync();
        var ident = Idents.New();
        await device.IdentifyNewAsync(ident);
        var time = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(time, 1700000000);
        await device.SendArrayAsync("sen:a", [new byte[] { 1, 2 }, "1"u8.ToArray()]);
        await device.SendArrayAsync("sen:b", [time, "2"u8.ToArray()]);
        await device.PingAsync(1);
        var records = await Server.RecordsAsync((await Server.DeviceAsync(ident)).Id);
        Assert.DoesNotContain(records, r => r.Type == "sen:a");
        Assert.Single(records, r => r.Type == "sen:b");
    }
}
