using M2M.Storage.Entities;

namespace M2M.Ingest.Sessions.Tests;

/// <summary>ALIP settings, commands and firmware against the registry of the shared server.</summary>
[Collection(SharedServerCollection.Name)]
public sealed class AlipRegistryTests(SharedServer shared)
{
    private DeviceServer Server => shared.Server;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<Guid> CreateDeviceAsync(string ident) => (await Server.Devices.CreateAsync(ident, cancellationToken: Ct)).Id;

    [Fact]
    public async Task After_ID_1_pending_settings_then_pending_commands_are_sent()
    {
        var ident = Idents.New();
        var id = await CreateDeviceAsync(ident);
        await Server.Devices.SetSettingAsync(id, "gps_period", "60", Ct);
        await Server.Devices.SetSettingAsync(id, "apn", "m2m.example", Ct);
        var commandId = await Server.Devices.AddCommandAsync(id, "reboot now", cancellationToken: Ct);

        await using var device = await Server.ConnectAlipAsync();
        await device.IdentifyAsync(ident);
        await device.ExpectAsync("S S apn m2m.example");
        await device.ExpectAsync("S S gps_period 60");
        await device.ExpectAsync("C 1 reboot now");
        // The device has settings: no "S GA".
        await device.ExpectSilenceAsync(TimeSpan.FromMilliseconds(200));
        Assert.Equal(CommandState.Sent, (await Server.Devices.GetCommandAsync(id, commandId, Ct))!.State);

        await device.SendAsync("C A 1");
        await device.SendAsync("S A gps_period 60");
        await device.BarrierAsync();
        Assert.Equal(CommandState.Acknowledged, (await Server.Devices.GetCommandAsync(id, commandId, Ct))!.State);
        var toSend = await Server.Devices.GetSettingsToSendAsync(id, Ct);
        Assert.Equal(["apn"], toSend.Keys);
    }

    [Fact]
    public async Task Settings_commands_answer_from_the_registry()
    {
        var ident = Idents.New();
        var id = await CreateDeviceAsync(ident);
        await Server.Devices.SetSettingAsync(id, "a", "1", Ct);
        await Server.Devices.SetSettingAsync(id, "b", "2", Ct);

        await using var device = await Server.ConnectAlipAsync();
        await device.IdentifyAsync(ident);
        await device.ExpectAsync("S S a 1");
        await device.ExpectAsync("S S b 2");

        await device.SendAsync("S A a 1");
        await device.SendAsync("S S c 3");
        await device.SendAsync("S GA");
        await device.ExpectAsync("S S a 1");
        await device.ExpectAsync("S S b 2");
        await device.ExpectAsync("S S c 3");
        Assert.Equal("S S c 3", await device.AskAsync("S G c"));
        // Only "b" is still to be delivered.
        Assert.Equal("S S b 2", await device.AskAsync("S G"));
        await device.SendAsync("S U b");
        await device.BarrierAsync();

        var settings = await Server.Devices.GetSettingsAsync(id, Ct);
        Assert.Equal(["a", "c"], settings.Select(s => s.Name));
        Assert.All(settings, s => Assert.False(s.Pending));
        Assert.StartsWith("ERR ", await device.AskAsync("S X"));
    }

    [Fact]
    public async Task C_L_sends_the_pending_commands_again_and_unknown_numbers_are_refused()
    {
        var ident = Idents.New();
        var id = await CreateDeviceAsync(ident);
        await Server.Devices.SetSettingAsync(id, "a", "1", Ct);
        await Server.Devices.AddCommandAsync(id, "first", cancellationToken: Ct);
        await Server.Devices.AddCommandAsync(id, "second\tone", cancellationToken: Ct);

        await using var device = await Server.ConnectAlipAsync();
        await device.IdentifyAsync(ident);
        await device.ExpectAsync("S S a 1");
        await device.ExpectAsync("C 1 first");
        await device.ExpectAsync("C 2 second\tone");
        await device.SendAsync("C A 1");
        await device.SendAsync("C L");
        await device.ExpectAsync("C 2 second\tone");
        Assert.StartsWith("ERR ", await device.AskAsync("C A 9"));
        Assert.StartsWith("ERR ", await device.AskAsync("C A -1"));
        Assert.Single(await Server.Devices.GetPendingCommandsAsync(id, Ct));
    }

    [Fact]
    public async Task Firmware_is_selected_sized_and_read_in_hex_chunks()
    {
        var name = $"fw-{Guid.NewGuid():N}.bin";
        var content = Enumerable.Range(0, 10_000).Select(i => (byte)(i * 7)).ToArray();
        await Server.Firmware.StoreAsync(name, new MemoryStream(content), cancellationToken: Ct);
        await Server.Firmware.SetAccessAsync(name, new M2M.Storage.Files.FirmwareAccess(AllDomains: true, []), Ct);

        await using var device = await Server.ConnectAlipAsync();
        await device.IdentifyAsync(Idents.New());
        await device.ExpectAsync("S GA");

        Assert.Equal("ERR no file selected", await device.AskAsync("F S"));
        Assert.Equal("F N 0", await device.AskAsync("F N no-such-file"));
        Assert.Equal("F N 1", await device.AskAsync($"F N {name}"));
        Assert.Equal("F S 10000", await device.AskAsync("F S"));
        Assert.Equal($"F G 16 {Convert.ToHexString(content, 16, 8)}", await device.AskAsync("F G 16 8"), ignoreCase: true);

        // Above the chunk maximum (4096 by default) the size is clamped.
        var big = await device.AskAsync("F G 100 100000");
        Assert.Equal($"F G 100 {Convert.ToHexString(content, 100, 4096)}", big, ignoreCase: true);

        // Past the end: what is left, then nothing.
        Assert.Equal($"F G 9990 {Convert.ToHexString(content, 9990, 10)}", await device.AskAsync("F G 9990 100"), ignoreCase: true);
        Assert.Equal("F G 10000 ", await device.AskAsync("F G 10000 100"));

        Assert.StartsWith("ERR ", await device.AskAsync("F G -1 8"));
        Assert.StartsWith("ERR ", await device.AskAsync("F G 0 -8"));
        Assert.StartsWith("ERR ", await device.AskAsync("F G zero 8"));
    }
}
