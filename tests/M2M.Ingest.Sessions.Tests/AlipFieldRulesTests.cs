using System.Text.Json;

namespace M2M.Ingest.Sessions.Tests;

/// <summary>
/// ALIP rules of fields (issue 13, "Protocol behaviour that differs from the specs"): a line missing
/// a field it requires gets <c>ERR</c>; <c>J</c> keeps its type; <c>LS:</c> marks its sensor once per
/// connection; the platform's own record types cannot be forged.
/// </summary>
public sealed class AlipFieldRulesTests(DiagnosticsServer fixture) : IClassFixture<DiagnosticsServer>
{
    private DeviceServer Server => fixture.Server;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Every command with each of its required fields left out, with and without the space before it.</summary>
    public static TheoryData<string, string> MissingFields => new()
    {
        { "ID", "ERR Invalid identification" },
        { "ID ", "ERR Invalid identification" },
        { "B", "ERR Missing token" },
        { "B ", "ERR Missing token" },
        { "A", "ERR Missing token" },
        { "A ", "ERR Missing token" },
        { "D", "ERR Missing type" },
        { "D ", "ERR Missing type" },
        { "D T", "ERR Missing content" },
        { "D T ", "ERR Missing content" },
        { "D L", "ERR Missing content" },
        { "D G ", "ERR Missing content" },
        { "D echo", "ERR Missing content" },
        { "D LS:door", "ERR Missing content" },
        { "E", "ERR Missing time" },
        { "E ", "ERR Missing time" },
        { "E 1700000000", "ERR Missing type" },
        { "E 1700000000 ", "ERR Missing type" },
        { "E 1700000000 T", "ERR Missing content" },
        { "E 1700000000 T ", "ERR Missing content" },
        { "J", "ERR Missing time" },
        { "J 1700000000", "ERR Missing type" },
        { "J 1700000000 can", "ERR Missing JSON" },
        { "J 1700000000 can ", "ERR Missing JSON" },
        { "S", "ERR Invalid settings command" },
        { "S A", "ERR Missing setting name" },
        { "S A ", "ERR Missing setting name" },
        { "S A gps_period", "ERR Missing setting value" },
        { "S A gps_period ", "ERR Missing setting value" },
        { "S S", "ERR Missing setting name" },
        { "S S gps_period", "ERR Missing setting value" },
        { "S U", "ERR Missing setting name" },
        { "S U ", "ERR Missing setting name" },
        { "C", "ERR Invalid commands command" },
        { "C A", "ERR Missing number" },
        { "C A ", "ERR Missing number" },
        { "F", "ERR Invalid firmware command" },
        { "F N", "ERR Missing file name" },
        { "F N ", "ERR Missing file name" },
        { "F G", "ERR Missing offset" },
        { "F G 0", "ERR Missing size" },
        { "F G 0 ", "ERR Missing size" },
        { "DB", "ERR Invalid diagnostics command" },
    };

    [Theory]
    [MemberData(nameof(MissingFields))]
    public async Task A_line_missing_a_required_field_gets_ERR_and_changes_nothing(string line, string expected)
    {
        var ident = Idents.New();
        await using var device = await Server.ConnectAlipAsync();
        if (!line.StartsWith("ID", StringComparison.Ordinal) && !line.StartsWith('B'))
        {
            await device.IdentifyAsync(ident);
            await device.ExpectAsync("S GA");
        }
        Assert.Equal(expected, await device.AskAsync(line));

        if (line.StartsWith("ID", StringComparison.Ordinal) || line.StartsWith('B'))
        {
            await device.IdentifyAsync(ident);
            await device.ExpectAsync("S GA");
        }
        await device.BarrierAsync();
        var id = (await Server.DeviceAsync(ident)).Id;
        Assert.All(await Server.RecordsAsync(id), r => Assert.Equal("_server", r.Type));
        Assert.Empty(await Server.Devices.GetSettingsAsync(id, Ct));
    }

    [Fact]
    public async Task J_stores_the_type_as_sent_without_the_ALIP_type_mapping()
    {
        await using var device = await Server.ConnectAlipAsync();
        var ident = Idents.New();
        await device.IdentifyAsync(ident);
        await device.ExpectAsync("S GA");

        await device.SendAsync("J 1700000000 L {\"anything\":[1,2]}");
        await device.SendAsync("J 1700000000 T 21.5");
        await device.SendAsync("J 1700000000 A3 {\"raw\":512}");
        await device.SendAsync("J 1700000000 LS:door \"closed\"");
        await device.BarrierAsync();

        var records = (await Server.RecordsAsync((await Server.DeviceAsync(ident)).Id)).Where(r => r.Type != "_server").ToList();
        Assert.Equal(["A3", "L", "LS:door", "T"], records.Select(r => r.Type).Order(StringComparer.Ordinal));
        Assert.Equal("{\"anything\":[1,2]}", records.Single(r => r.Type == "L").Data);
        Assert.Equal("21.5", records.Single(r => r.Type == "T").Data);
        Assert.DoesNotContain(records, r => r.Type.StartsWith("sen:", StringComparison.Ordinal) || r.Type.StartsWith("lsen:", StringComparison.Ordinal));
    }

    [Fact]
    public async Task J_sen_loc_must_be_a_location_object_and_is_stored_in_its_normal_form()
    {
        await using var device = await Server.ConnectAlipAsync();
        var ident = Idents.New();
        await device.IdentifyAsync(ident);
        await device.ExpectAsync("S GA");

        Assert.Equal("ERR Invalid location", await device.AskAsync("J 1700000000 sen:loc {\"anything\":1}"));
        Assert.Equal("ERR Invalid location", await device.AskAsync("J 1700000000 sen:loc {\"lat\":48.85}"));
        Assert.Equal("ERR Invalid location", await device.AskAsync("J 1700000000 sen:loc {\"lat\":\"48\",\"lon\":2}"));
        Assert.Equal("ERR Invalid location", await device.AskAsync("J 1700000000 sen:loc {\"lat\":1,\"lon\":2,\"lat\":3}"));
        Assert.Equal("ERR Invalid location", await device.AskAsync("J 1700000000 sen:loc {\"lat\":91,\"lon\":2}"));
        Assert.Equal("ERR Invalid location", await device.AskAsync("J 1700000000 sen:loc [48.85,2.35]"));
        Assert.Equal("ERR Invalid location", await device.AskAsync("J 1700000000 sen:loc {\"sat\":-1}"));
        await device.SendAsync("J 1700000000 sen:loc { \"lon\" : 2.350, \"lat\" : 48.850, \"alt\" : 35 }");
        await device.SendAsync("J 1700000001 sen:loc {\"sat\":7}");
        await device.BarrierAsync();

        var records = await Server.RecordsAsync((await Server.DeviceAsync(ident)).Id, "sen:loc");
        Assert.Equal(["{\"lat\":48.85,\"lon\":2.35,\"alt\":35}", "{\"sat\":7}"], records.Select(r => r.Data));
    }

    [Theory]
    [InlineData("D _server {\"type\":\"device_disconnected\"}")]
    [InlineData("E 1700000000 _server x")]
    [InlineData("J 1700000000 _server {\"type\":\"device_disconnected\"}")]
    public async Task A_device_cannot_store_records_of_the_platform_s_own_types(string line)
    {
        await using var device = await Server.ConnectAlipAsync();
        var ident = Idents.New();
        await device.IdentifyAsync(ident);
        await device.ExpectAsync("S GA");

        Assert.Equal("ERR Invalid type", await device.AskAsync(line));
        await device.BarrierAsync();
        var server = await Server.RecordsAsync((await Server.DeviceAsync(ident)).Id, "_server");
        Assert.All(server, r => Assert.DoesNotContain("device_disconnected", r.Data, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_listed_sensor_is_marked_once_per_connection_and_its_last_seen_time_written_at_the_end()
    {
        var ident = Idents.New();
        var device = await Server.ConnectAlipAsync();
        await device.IdentifyAsync(ident);
        await device.ExpectAsync("S GA");
        var id = (await Server.DeviceAsync(ident)).Id;

        await device.SendAsync("E 1700000000 LS:door open");
        await device.SendAsync("E 1700000100 LS:door closed");
        await device.SendAsync("E 1700000050 LS:door open");
        await device.SendAsync("E 1700000010 LS:pump on");
        await device.BarrierAsync();

        // Every record is stored; the registry was written once per sensor, with the first record's time.
        Assert.Equal(3, (await Server.RecordsAsync(id, "lsen:door")).Count);
        var sensors = await Server.Devices.GetListedSensorsAsync(id, Ct);
        Assert.Equal(["door", "pump"], sensors.Select(s => s.Name));
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1700000000), sensors[0].FirstSeen);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1700000000), sensors[0].LastSeen);

        // The latest time seen is written when the connection ends.
        Assert.Equal("QUIT bye", await device.AskAsync("QUIT"));
        await device.DisposeAsync();
        await DeviceServer.EventuallyAsync(
            async () => (await Server.Devices.GetListedSensorsAsync(id, Ct))[0].LastSeen == DateTimeOffset.FromUnixTimeSeconds(1700000100),
            "the last seen time of door written at disconnection");
        sensors = await Server.Devices.GetListedSensorsAsync(id, Ct);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1700000000), sensors[0].FirstSeen);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1700000010), sensors[1].LastSeen);
    }

    [Fact]
    public async Task The_lines_of_a_record_keep_their_stored_form_through_the_new_checks()
    {
        // Tabs and non-ASCII text are content, not control characters.
        await using var device = await Server.ConnectAlipAsync();
        var ident = Idents.New();
        await device.IdentifyAsync(ident);
        await device.ExpectAsync("S GA");
        await device.SendAsync("D note température\t21 °C");
        await device.BarrierAsync();
        var record = Assert.Single(await Server.RecordsAsync((await Server.DeviceAsync(ident)).Id, "note"));
        Assert.Equal("température\t21 °C", JsonDocument.Parse(record.Data).RootElement.GetString());
    }
}
