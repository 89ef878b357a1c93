using System.Text.Json;
using M2M.Storage.Entities;

namespace M2M.Ingest.Sessions.Tests;

/// <summary>The ALIP table (spec/alip.md "Device → server") line by line, against the shared server.</summary>
[Collection(SharedServerCollection.Name)]
public sealed class AlipSessionTests(SharedServer shared)
{
    private DeviceServer Server => shared.Server;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_new_device_is_accepted_and_asked_for_all_its_settings()
    {
        await using var device = await Server.ConnectAlipAsync();
        var ident = Idents.New();

        Assert.Equal("ID 1", await device.AskAsync($"ID {ident}"));
        await device.ExpectAsync("S GA");

        var stored = await Server.DeviceAsync(ident);
        Assert.Equal(DeviceIds.FromIdent(ident), stored.Id);
    }

    [Theory]
    [InlineData("ID imei")]
    [InlineData("ID IMEI:12345678")]
    [InlineData("ID imei:12")]
    [InlineData("ID imei:1234 5678")]
    [InlineData("ID")]
    public async Task A_badly_formed_ident_is_refused_with_ERR_Invalid_identification(string line)
    {
        await using var device = await Server.ConnectAlipAsync();
        Assert.Equal("ERR Invalid identification", await device.AskAsync(line));
        // The connection stays open: the device may identify properly.
        await device.IdentifyAsync(Idents.New());
    }

    [Fact]
    public async Task A_second_ID_is_answered_ERR_already_identified()
    {
        await using var device = await Server.ConnectAlipAsync();
        await device.IdentifyAsync(Idents.New());
        await device.ExpectAsync("S GA");
        Assert.Equal("ERR already identified", await device.AskAsync($"ID {Idents.New()}"));
    }

    [Theory]
    [InlineData("D T 21.5")]
    [InlineData("E 1700000000 T 21.5")]
    [InlineData("J 1700000000 can {}")]
    [InlineData("A 1")]
    [InlineData("S GA")]
    [InlineData("C L")]
    [InlineData("F S")]
    public async Task Commands_other_than_ID_T_QUIT_B_need_an_identified_device(string line)
    {
        await using var device = await Server.ConnectAlipAsync();
        Assert.Equal("ERR You must be identified", await device.AskAsync(line));
    }

    [Fact]
    public async Task T_answers_the_server_clock_even_before_identification()
    {
        await using var device = await Server.ConnectAlipAsync();
        var answer = await device.AskAsync("T");
        Assert.StartsWith("T ", answer);
        var seconds = long.Parse(answer![2..], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(seconds, DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 5, DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 5);
    }

    [Fact]
    public async Task B_is_accepted_silently_and_unknown_commands_are_not_understood()
    {
        await using var device = await Server.ConnectAlipAsync();
        await device.SendAsync("B 3");
        Assert.Equal("ERR Command \"HELLO\" not understood", await device.AskAsync("HELLO world"));
        Assert.Equal("ERR Command \"DB\" not understood", await device.AskAsync("DB ID"));
    }

    [Fact]
    public async Task QUIT_is_answered_bye_and_the_server_closes()
    {
        await using var device = await Server.ConnectAlipAsync();
        Assert.Equal("QUIT bye", await device.AskAsync("QUIT"));
        Assert.Null(await device.ReadLineAsync());
    }

    [Fact]
    public async Task Data_lines_are_stored_with_the_mapped_types_and_times()
    {
        await using var device = await Server.ConnectAlipAsync();
        var ident = Idents.New();
        await device.IdentifyAsync(ident);
        await device.ExpectAsync("S GA");
        var before = DateTimeOffset.UtcNow.AddSeconds(-1);

        await device.SendAsync("D L 48.85661,2.35222,42,35");
        await device.SendAsync("D L 7");
        await device.SendAsync("D G 1700000000,48.5,2.25");
        await device.SendAsync("E 1700000000 T 21.5");
        await device.SendAsync("E 231114221321 V 12.1");
        await device.SendAsync("E 20231114221322 A3 512");
        await device.SendAsync("D DI2 1");
        await device.SendAsync("D D open");
        await device.SendAsync("D F 41.5");
        await device.SendAsync("D E on");
        await device.SendAsync("D SMS hello world");
        await device.SendAsync("D VER 1.2.3");
        await device.SendAsync("D LS:door2 closed");
        await device.SendAsync("D custom \"quoted\" text");
        await device.SendAsync("J 20231114221320 can {\"rpm\":1800,\"fuel\":41.5}");
        await device.BarrierAsync();

        var id = (await Server.DeviceAsync(ident)).Id;
        var records = (await Server.RecordsAsync(id)).Where(r => r.Type != "_server").ToList();
        string Data(string type) => Assert.Single(records, r => r.Type == type).Data;

        var locations = records.Where(r => r.Type == "sen:loc").ToList();
        Assert.Equal(3, locations.Count);
        Assert.Contains(locations, r => r.Data == "{\"lat\":48.85661,\"lon\":2.35222,\"spd\":42,\"alt\":35}" && r.Time >= before);
        Assert.Contains(locations, r => r.Data == "{\"sat\":7}");
        Assert.Contains(locations, r => r.Data == "{\"lat\":48.5,\"lon\":2.25}" && r.Time == DateTimeOffset.FromUnixTimeSeconds(1700000000));

        Assert.Equal("\"21.5\"", Data("sen:temp"));
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1700000000), records.Single(r => r.Type == "sen:temp").Time);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1700000001), records.Single(r => r.Type == "sen:volt").Time);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1700000002), records.Single(r => r.Type == "sen:adc:3").Time);
        Assert.Equal("\"1\"", Data("sen:gpio:2"));
        Assert.Equal("\"open\"", Data("sen:door"));
        Assert.Equal("\"41.5\"", Data("sen:fuel"));
        Assert.Equal("\"on\"", Data("sen:engine"));
        Assert.Equal("\"hello world\"", Data("sen:sms_received"));
        Assert.Equal("\"1.2.3\"", Data("sen:version"));
        Assert.Equal("\"closed\"", Data("lsen:door2"));
        Assert.Equal("\"\\\"quoted\\\" text\"", Data("custom"));
        Assert.Equal("{\"rpm\":1800,\"fuel\":41.5}", Data("can"));
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1700000000), records.Single(r => r.Type == "can").Time);

        var sensor = Assert.Single(await Server.Devices.GetListedSensorsAsync(id, Ct));
        Assert.Equal("door2", sensor.Name);
    }

    [Fact]
    public async Task Bad_values_are_answered_with_ERR_and_not_stored()
    {
        await using var device = await Server.ConnectAlipAsync();
        var ident = Idents.New();
        await device.IdentifyAsync(ident);
        await device.ExpectAsync("S GA");

        Assert.Equal("ERR Invalid time", await device.AskAsync("E 17000 T 1"));
        Assert.Equal("ERR Invalid time", await device.AskAsync("E 20231345000000 T 1"));
        Assert.Equal("ERR Invalid time", await device.AskAsync("J yesterday can {}"));
        Assert.Equal("ERR Invalid time", await device.AskAsync("D G 99,48.5,2.25"));
        Assert.StartsWith("ERR ", await device.AskAsync("D L north,east"));
        Assert.StartsWith("ERR ", await device.AskAsync("J 1700000000 can {\"rpm\":"));
        Assert.StartsWith("ERR ", await device.AskAsync("J 1700000000 _server {}"));
        await device.BarrierAsync();

        var records = await Server.RecordsAsync((await Server.DeviceAsync(ident)).Id);
        Assert.All(records, r => Assert.Equal("_server", r.Type));
    }

    [Fact]
    public async Task Echo_is_answered_and_not_stored()
    {
        await using var device = await Server.ConnectAlipAsync();
        var ident = Idents.New();
        await device.IdentifyAsync(ident);
        await device.ExpectAsync("S GA");

        Assert.Equal("D echo hello there", await device.AskAsync("D echo hello there"));
        await device.BarrierAsync();
        Assert.DoesNotContain(await Server.RecordsAsync((await Server.DeviceAsync(ident)).Id), r => r.Type == "echo");
    }

    [Fact]
    public async Task The_barrier_is_answered_only_once_every_earlier_record_is_in_the_database()
    {
        await using var device = await Server.ConnectAlipAsync();
        var ident = Idents.New();
        await device.IdentifyAsync(ident);
        await device.ExpectAsync("S GA");
        var id = (await Server.DeviceAsync(ident)).Id;

        for (var round = 1; round <= 3; round++)
        {
            var lines = string.Concat(Enumerable.Range(0, 200).Select(i => $"D T {round}.{i}\n"));
            await device.SendRawAsync(System.Text.Encoding.ASCII.GetBytes(lines + $"A r{round}\n"));
            Assert.Equal($"B r{round}", await device.ReadLineAsync());
            // Read the database the moment the answer arrives.
            Assert.Equal(200 * round, (await Server.RecordsAsync(id, "sen:temp")).Count);
        }
    }

    [Fact]
    public async Task An_over_long_line_is_refused_and_the_connection_goes_on()
    {
        await using var device = await Server.ConnectAlipAsync();
        await device.SendRawAsync(System.Text.Encoding.ASCII.GetBytes("D T " + new string('x', 20_000) + "\n"));
        Assert.StartsWith("ERR ", await device.ReadLineAsync());
        Assert.StartsWith("T ", await device.AskAsync("T"));
    }

    [Fact]
    public async Task Server_records_mark_connection_identification_and_disconnection()
    {
        var ident = Idents.New();
        var device = await Server.ConnectAlipAsync();
        await device.IdentifyAsync(ident);
        await device.ExpectAsync("S GA");
        Assert.Equal("QUIT bye", await device.AskAsync("QUIT"));
        await device.DisposeAsync();
        var id = (await Server.DeviceAsync(ident)).Id;

        await DeviceServer.EventuallyAsync(async () => (await Server.RecordsAsync(id, "_server")).Count == 3, "three _server records");
        var records = await Server.RecordsAsync(id, "_server");
        var types = records.Select(r => JsonDocument.Parse(r.Data).RootElement.GetProperty("type").GetString()).ToList();
        Assert.Equal(["device_connected", "device_identified", "device_disconnected"], types);
        var last = JsonDocument.Parse(records[2].Data).RootElement;
        Assert.True(last.GetProperty("connection_duration").GetDouble() >= 0);
        Assert.False(string.IsNullOrEmpty(last.GetProperty("connection_id").GetString()));
        Assert.False(string.IsNullOrEmpty(last.GetProperty("host").GetString()));
        Assert.StartsWith("127.0.0.1:", last.GetProperty("source").GetString());
    }
}
