using M2M.Storage.Entities;
using M2M.Storage.Registry;

namespace M2M.Storage.Contracts;

/// <summary>The behaviour every <see cref="IDeviceStore"/> backend must have.</summary>
public abstract class DeviceStoreContract : EntityContract
{
    private IDeviceStore Devices => Stores.Devices;

    private IRegistry Registry => Stores.Registry;

    private async Task<Device> NewDeviceAsync(string ident = "imei:35412345678") => await Devices.CreateAsync(ident, cancellationToken: Ct);

    // ------------------------------------------------------------------ identity

    [Fact]
    public async Task An_unknown_ident_is_created_only_when_auto_registration_is_on()
    {
        Assert.Null(await Devices.GetOrCreateByIdentAsync("imei:1234", autoRegister: false, Ct));

        var device = await Devices.GetOrCreateByIdentAsync("imei:1234", autoRegister: true, Ct);

        var main = await Stores.Domains.EnsureDefaultAsync(Ct);
        Assert.NotNull(device);
        Assert.Equal(DeviceIds.FromIdent("imei:1234"), device.Id);
        Assert.Equal(main.Id, device.DomainId);
        Assert.Equal(Time.GetUtcNow(), device.CreatedAt);
        Assert.Equal(device, await Devices.GetOrCreateByIdentAsync("imei:1234", autoRegister: false, Ct));
        Assert.Equal(device, await Devices.GetByIdentAsync("imei:1234", Ct));
        Assert.Equal(device.Id.ToString("D"), await Registry.GetValueAsync(EntityPaths.DeviceByIdent("imei:1234"), "id", Ct));
        Assert.Equal([device.Id], await Stores.Domains.GetDeviceIdsAsync(main.Id, Ct));
    }

    [Fact]
    public async Task The_deterministic_id_is_not_used_when_it_is_already_taken()
    {
        var taken = DeviceIds.FromIdent("imei:5555");
        await Registry.CreateAsync(EntityPaths.Device(taken), new Dictionary<string, string> { ["ident"] = "someone-else" }, Ct);

        var device = await Devices.GetOrCreateByIdentAsync("imei:5555", autoRegister: true, Ct);

        Assert.NotEqual(taken, device!.Id);
        Assert.Equal("someone-else", await Registry.GetValueAsync(EntityPaths.Device(taken), "ident", Ct));
    }

    [Fact]
    public async Task Concurrent_creation_of_one_ident_yields_one_device()
    {
        var devices = await Task.WhenAll(Enumerable.Range(0, 32).Select(_ => Task.Run(
            async () => await Devices.GetOrCreateByIdentAsync("Linux_1700000000_1804289383", autoRegister: true, Ct), Ct)));

        Assert.Single(devices.Select(d => d!.Id).Distinct());
        Assert.Single((await Devices.ListAsync(new DeviceQuery(), Ct)).Items);
    }

    [Theory]
    [InlineData("")]
    [InlineData("has space")]
    [InlineData("tab\tinside")]
    [InlineData("caf\u00e9")]
    public async Task Invalid_idents_are_refused(string ident)
    {
        await Assert.ThrowsAsync<InvalidIdentException>(() => Devices.GetOrCreateByIdentAsync(ident, true, Ct).AsTask());
        await Assert.ThrowsAsync<InvalidIdentException>(() => Devices.CreateAsync(ident, cancellationToken: Ct).AsTask());
    }

    [Fact]
    public async Task Idents_up_to_255_printable_characters_including_slashes_are_accepted()
    {
        var longest = new string('x', 255);
        Assert.Equal(longest, (await Devices.GetOrCreateByIdentAsync(longest, true, Ct))!.Ident);
        Assert.Equal("a/b/../c", (await Devices.GetOrCreateByIdentAsync("a/b/../c", true, Ct))!.Ident);
        await Assert.ThrowsAsync<InvalidIdentException>(() => Devices.GetByIdentAsync(longest + "x", Ct).AsTask());
    }

    [Fact]
    public async Task Creating_a_device_checks_the_ident_and_the_domain()
    {
        var fleet = await Stores.Domains.CreateAsync("fleet", Ct);
        var device = await Devices.CreateAsync("imei:42", "Truck 42", fleet.Id, Ct);

        Assert.Equal(("Truck 42", fleet.Id), (device.DisplayName, device.DomainId));
        await Assert.ThrowsAsync<DuplicateNameException>(() => Devices.CreateAsync("imei:42", cancellationToken: Ct).AsTask());
        await Assert.ThrowsAsync<EntityNotFoundException>(() => Devices.CreateAsync("imei:43", domainId: Guid.NewGuid(), cancellationToken: Ct).AsTask());
    }

    [Fact]
    public async Task Display_name_owner_and_domain_can_be_changed()
    {
        var device = await NewDeviceAsync();
        var fleet = await Stores.Domains.CreateAsync("fleet", Ct);
        var main = await Stores.Domains.EnsureDefaultAsync(Ct);

        await Devices.SetDisplayNameAsync(device.Id, "Van", Ct);
        await Devices.SetOwnerAsync(device.Id, "ops", Ct);
        await Devices.SetDomainAsync(device.Id, fleet.Id, Ct);

        var loaded = await Devices.GetAsync(device.Id, Ct);
        Assert.Equal(("Van", "ops", fleet.Id), (loaded!.DisplayName, loaded.Owner, loaded.DomainId));
        Assert.Equal([device.Id], await Stores.Domains.GetDeviceIdsAsync(fleet.Id, Ct));
        Assert.Empty(await Stores.Domains.GetDeviceIdsAsync(main.Id, Ct));
        Assert.Null((await Devices.SetDisplayNameAsync(device.Id, null, Ct)).DisplayName);
        Assert.Null((await Devices.GetAsync(device.Id, Ct))!.DisplayName);
        await Assert.ThrowsAsync<EntityNotFoundException>(() => Devices.SetDomainAsync(device.Id, Guid.NewGuid(), Ct).AsTask());
    }

    [Fact]
    public async Task Deleting_a_device_is_soft_and_frees_its_ident()
    {
        var device = await Devices.GetOrCreateByIdentAsync("imei:77", true, Ct);

        Assert.True(await Devices.DeleteAsync(device!.Id, Ct));
        Assert.False(await Devices.DeleteAsync(device.Id, Ct));

        Assert.Null(await Devices.GetAsync(device.Id, Ct));
        Assert.Null(await Devices.GetByIdentAsync("imei:77", Ct));
        Assert.Equal(RegistryNodeStatus.Deleted, await Registry.GetStatusAsync(EntityPaths.Device(device.Id), Ct));
        Assert.NotNull(await Registry.GetValueAsync(EntityPaths.Device(device.Id), ".deleted_date", Ct));
        Assert.Equal(RegistryNodeStatus.Undefined, await Registry.GetStatusAsync(EntityPaths.DeviceByIdent("imei:77"), Ct));
        await Assert.ThrowsAsync<EntityNotFoundException>(() => Devices.SetSettingAsync(device.Id, "a", "1", Ct).AsTask());

        var again = await Devices.GetOrCreateByIdentAsync("imei:77", true, Ct);
        Assert.NotEqual(device.Id, again!.Id); // the deterministic id still belongs to the deleted device
    }

    [Fact]
    public async Task Devices_are_listed_by_search_domain_and_in_pages()
    {
        var fleet = await Stores.Domains.CreateAsync("fleet", Ct);
        for (var i = 0; i < 7; i++)
        {
            await Devices.CreateAsync($"imei:{i}00", i % 2 == 0 ? $"Truck {i}" : null, i < 3 ? fleet.Id : null, Ct);
        }

        var seen = new List<Device>();
        string? cursor = null;
        var pages = 0;
        do
        {
            var page = await Devices.ListAsync(new DeviceQuery(Limit: 3, Cursor: cursor), Ct);
            seen.AddRange(page.Items);
            cursor = page.NextCursor;
            pages++;
        }
        while (cursor is not null);

        Assert.Equal(3, pages);
        Assert.Equal(7, seen.Select(d => d.Id).Distinct().Count());
        Assert.Equal(seen.Select(d => d.Id.ToString("D")).Order(StringComparer.Ordinal), seen.Select(d => d.Id.ToString("D")));
        Assert.Equal(["imei:000", "imei:100", "imei:200"], (await Devices.ListAsync(new DeviceQuery(DomainId: fleet.Id), Ct)).Items.Select(d => d.Ident).Order());
        Assert.Equal(["imei:400"], (await Devices.ListAsync(new DeviceQuery(Search: "TRUCK 4"), Ct)).Items.Select(d => d.Ident));
        Assert.Equal(["imei:500"], (await Devices.ListAsync(new DeviceQuery(Search: ":5"), Ct)).Items.Select(d => d.Ident));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Devices.ListAsync(new DeviceQuery(Limit: 0), Ct).AsTask());
        await Assert.ThrowsAsync<ArgumentException>(() => Devices.ListAsync(new DeviceQuery(Cursor: "garbage"), Ct).AsTask());
    }

    [Fact]
    public async Task Operations_on_an_unknown_device_fail_with_a_typed_error()
    {
        var unknown = Guid.NewGuid();
        Assert.Null(await Devices.GetAsync(unknown, Ct));
        await Assert.ThrowsAsync<EntityNotFoundException>(() => Devices.SetDisplayNameAsync(unknown, "x", Ct).AsTask());
        await Assert.ThrowsAsync<EntityNotFoundException>(() => Devices.GetSettingsAsync(unknown, Ct).AsTask());
        await Assert.ThrowsAsync<EntityNotFoundException>(() => Devices.AddCommandAsync(unknown, "reboot", cancellationToken: Ct).AsTask());
        await Assert.ThrowsAsync<EntityNotFoundException>(() => Devices.SetStatusAsync(unknown, "cap", "x", Ct).AsTask());
        await Assert.ThrowsAsync<EntityNotFoundException>(() => Devices.ResolveChannelTranslationAsync(unknown, "x", Ct).AsTask());
        var error = await Assert.ThrowsAsync<EntityNotFoundException>(() => Devices.MarkListedSensorAsync(unknown, "t", Time.GetUtcNow(), Ct).AsTask());
        Assert.Equal("device", error.Kind);
    }

    // ------------------------------------------------------------------ settings

    [Fact]
    public async Task A_setting_is_pending_until_the_device_acknowledges_the_same_value()
    {
        var device = await NewDeviceAsync();
        Assert.False(await Devices.HasAnySettingsAsync(device.Id, Ct));

        await Devices.SetSettingAsync(device.Id, "gps_period", "15", Ct);

        Assert.True(await Devices.HasAnySettingsAsync(device.Id, Ct));
        Assert.Equal(new Dictionary<string, string> { ["gps_period"] = "15" }, await Devices.GetSettingsToSendAsync(device.Id, Ct));
        Assert.Equal([new DeviceSetting("gps_period", "15", true, null)], await Devices.GetSettingsAsync(device.Id, Ct));

        var ackTime = Time.GetUtcNow().AddSeconds(3);
        Assert.Equal(SettingAckResult.Acknowledged, await Devices.AckSettingAsync(device.Id, "gps_period", "15", ackTime, Ct));

        Assert.Empty(await Devices.GetSettingsToSendAsync(device.Id, Ct));
        Assert.Equal([new DeviceSetting("gps_period", "15", false, ackTime)], await Devices.GetSettingsAsync(device.Id, Ct));
        Assert.Equal("15", await Registry.GetValueAsync(EntityPaths.Device(device.Id).Child("settings"), "gps_period", Ct));
        Assert.Equal(ackTime.ToUnixTimeMilliseconds(), await Registry.GetInt64Async(EntityPaths.Device(device.Id).Child("settings-ack-time"), "gps_period", Ct));
    }

    [Fact]
    public async Task An_ack_of_another_value_leaves_the_wanted_value_pending()
    {
        var device = await NewDeviceAsync();
        await Devices.SetSettingAsync(device.Id, "mode", "eco", Ct);

        Assert.Equal(SettingAckResult.IgnoredPendingDiffers, await Devices.AckSettingAsync(device.Id, "mode", "sport", Time.GetUtcNow(), Ct));

        Assert.Equal([new DeviceSetting("mode", "eco", true, null)], await Devices.GetSettingsAsync(device.Id, Ct));
    }

    [Fact]
    public async Task A_value_reported_by_the_device_becomes_the_current_setting()
    {
        var device = await NewDeviceAsync();
        await Devices.SetSettingAsync(device.Id, "a", "1", Ct);
        await Devices.AckSettingAsync(device.Id, "a", "1", Time.GetUtcNow(), Ct);
        var reported = Time.GetUtcNow().AddMinutes(1);

        Assert.Equal(SettingAckResult.Reported, await Devices.AckSettingAsync(device.Id, "a", "2", reported, Ct));
        Assert.Equal(SettingAckResult.Reported, await Devices.AckSettingAsync(device.Id, "private", "x", reported, Ct));

        Assert.Equal(
            [new DeviceSetting("a", "2", false, reported), new DeviceSetting("private", "x", false, reported)],
            await Devices.GetSettingsAsync(device.Id, Ct));
        Assert.Empty(await Devices.GetSettingsToSendAsync(device.Id, Ct));
    }

    [Fact]
    public async Task Changing_an_acknowledged_setting_makes_it_pending_again()
    {
        var device = await NewDeviceAsync();
        await Devices.SetSettingAsync(device.Id, "a", "1", Ct);
        await Devices.AckSettingAsync(device.Id, "a", "1", Time.GetUtcNow(), Ct);

        await Devices.SetSettingAsync(device.Id, "a", "3", Ct);

        Assert.Equal([new DeviceSetting("a", "3", true, null)], await Devices.GetSettingsAsync(device.Id, Ct));
    }

    [Fact]
    public async Task Deleting_a_setting_removes_it_everywhere()
    {
        var device = await NewDeviceAsync();
        await Devices.SetSettingAsync(device.Id, "gone", "1", Ct);

        Assert.True(await Devices.DeleteSettingAsync(device.Id, "gone", Ct));
        Assert.False(await Devices.DeleteSettingAsync(device.Id, "gone", Ct));

        Assert.Empty(await Devices.GetSettingsAsync(device.Id, Ct));
        Assert.Empty(await Devices.GetSettingsToSendAsync(device.Id, Ct));
        Assert.False(await Devices.HasAnySettingsAsync(device.Id, Ct));
    }

    [Theory]
    [InlineData("", "1")]
    [InlineData("a=b", "1")]
    [InlineData("with space", "1")]
    [InlineData("ok", "line\nbreak")]
    public async Task Setting_names_and_values_that_cannot_travel_to_a_device_are_refused(string name, string value)
    {
        var device = await NewDeviceAsync();
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Devices.SetSettingAsync(device.Id, name, value, Ct).AsTask());
    }

    // ------------------------------------------------------------------ commands

    [Fact]
    public async Task A_command_goes_from_pending_to_sent_to_acknowledged_with_its_response()
    {
        var device = await NewDeviceAsync();
        var first = await Devices.AddCommandAsync(device.Id, "reboot", cancellationToken: Ct);
        var second = await Devices.AddCommandAsync(device.Id, "set a\nset b", cancellationToken: Ct);

        Assert.True(string.CompareOrdinal(first, second) < 0);
        var pending = await Devices.GetPendingCommandsAsync(device.Id, Ct);
        Assert.Equal([first, second], pending.Select(c => c.Id));
        Assert.Equal(new DeviceCommand(first, "reboot", CommandState.Pending, Time.GetUtcNow(), null, null, null, null), pending[0]);

        Time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(await Devices.MarkCommandSentAsync(device.Id, first, Ct));
        var sent = await Devices.GetCommandAsync(device.Id, first, Ct);
        Assert.Equal((CommandState.Sent, Time.GetUtcNow()), (sent!.State, sent.SentAt));
        Assert.Equal([first, second], (await Devices.GetPendingCommandsAsync(device.Id, Ct)).Select(c => c.Id));

        Time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(await Devices.AckCommandAsync(device.Id, first, "ok\nrebooting", Ct));

        var acked = await Devices.GetCommandAsync(device.Id, first, Ct);
        Assert.Equal((CommandState.Acknowledged, Time.GetUtcNow(), "ok\nrebooting"), (acked!.State, acked.AckedAt, acked.Response));
        Assert.Equal([second], (await Devices.GetPendingCommandsAsync(device.Id, Ct)).Select(c => c.Id));
        Assert.Equal("ok\nrebooting", await Registry.GetValueAsync(EntityPaths.Device(device.Id).Child("commands-response"), first, Ct));
        Assert.False(await Devices.AckCommandAsync(device.Id, first, null, Ct));
        Assert.False(await Devices.AckCommandAsync(device.Id, "not-an-id", null, Ct));
    }

    [Fact]
    public async Task A_command_that_cannot_be_delivered_is_failed_with_its_reason_and_leaves_the_pending_ones()
    {
        var device = await NewDeviceAsync();
        var pendingOne = await Devices.AddCommandAsync(device.Id, "a\nb", cancellationToken: Ct);
        var sentOne = await Devices.AddCommandAsync(device.Id, "c\nd", cancellationToken: Ct);
        var acked = await Devices.AddCommandAsync(device.Id, "e", cancellationToken: Ct);
        await Devices.MarkCommandSentAsync(device.Id, sentOne, Ct);
        await Devices.AckCommandAsync(device.Id, acked, null, Ct);

        Time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(await Devices.FailCommandAsync(device.Id, pendingOne, "no line breaks", Ct));
        Assert.True(await Devices.FailCommandAsync(device.Id, sentOne, "no line breaks", Ct));
        Assert.False(await Devices.FailCommandAsync(device.Id, acked, "too late", Ct));
        Assert.False(await Devices.FailCommandAsync(device.Id, pendingOne, "again", Ct));

        var failed = (await Devices.GetCommandAsync(device.Id, pendingOne, Ct))!;
        Assert.Equal((CommandState.Failed, Time.GetUtcNow(), "no line breaks"), (failed.State, failed.FailedAt, failed.Failure));
        Assert.Empty(await Devices.GetPendingCommandsAsync(device.Id, Ct));
        Assert.False(await Devices.CancelCommandAsync(device.Id, pendingOne, Ct));
        Assert.Equal(CommandState.Acknowledged, (await Devices.GetCommandAsync(device.Id, acked, Ct))!.State);
    }

    private static RegistryPath CommandLog(Guid deviceId, string commandId) => EntityPaths.Device(deviceId).Child("commands-log").Child(commandId);

    [Fact]
    public async Task A_command_acknowledged_between_reading_it_and_marking_it_sent_stays_acknowledged()
    {
        var device = await NewDeviceAsync();
        var id = await Devices.AddCommandAsync(device.Id, "reboot", cancellationToken: Ct);
        // Another node sharing the storage: the device's acknowledgement lands after it read the command.
        var registry = new InterleavingRegistry(Registry)
        {
            When = path => path == CommandLog(device.Id, id),
            Then = async () => Assert.True(await Devices.AckCommandAsync(device.Id, id, "done", Ct)),
        };
        var node = new DeviceStore(registry, Stores.Domains, Time);

        Assert.False(await node.MarkCommandSentAsync(device.Id, id, Ct));

        Assert.True(registry.Fired);
        var command = (await Devices.GetCommandAsync(device.Id, id, Ct))!;
        Assert.Equal((CommandState.Acknowledged, "done"), (command.State, command.Response));
        Assert.Empty(await Devices.GetPendingCommandsAsync(device.Id, Ct));
    }

    [Fact]
    public async Task Of_two_racing_acknowledgements_of_one_command_exactly_one_succeeds()
    {
        var device = await NewDeviceAsync();
        var id = await Devices.AddCommandAsync(device.Id, "reboot", cancellationToken: Ct);
        Assert.True(await Devices.MarkCommandSentAsync(device.Id, id, Ct));
        bool? second = null;
        // The second acknowledgement lands between the first one's read of the command (if it reads it) and its write.
        var registry = new InterleavingRegistry(Registry)
        {
            When = path => path == CommandLog(device.Id, id),
            Then = async () => second = await Devices.AckCommandAsync(device.Id, id, "second", Ct),
        };
        var node = new DeviceStore(registry, Stores.Domains, Time);

        var first = await node.AckCommandAsync(device.Id, id, "first", Ct);
        second ??= await Devices.AckCommandAsync(device.Id, id, "second", Ct);

        Assert.Equal(1, new[] { first, second.Value }.Count(acked => acked));
        var command = (await Devices.GetCommandAsync(device.Id, id, Ct))!;
        Assert.Equal((CommandState.Acknowledged, first ? "first" : "second"), (command.State, command.Response));
    }

    [Fact]
    public async Task Marking_sent_a_command_as_read_answers_as_marking_it_by_id()
    {
        var device = await NewDeviceAsync();
        var plain = await Devices.AddCommandAsync(device.Id, "a", cancellationToken: Ct);
        var acked = await Devices.AddCommandAsync(device.Id, "b", cancellationToken: Ct);
        var shortLived = await Devices.AddCommandAsync(device.Id, "c", TimeSpan.FromMinutes(1), Ct);
        var read = (await Devices.GetPendingCommandsAsync(device.Id, Ct)).ToDictionary(c => c.Id);
        Assert.True(await Devices.AckCommandAsync(device.Id, acked, "early", Ct));

        Time.Advance(TimeSpan.FromMinutes(2));
        Assert.True(await Devices.MarkCommandSentAsync(device.Id, read[plain], Ct));
        Assert.False(await Devices.MarkCommandSentAsync(device.Id, read[acked], Ct));
        Assert.False(await Devices.MarkCommandSentAsync(device.Id, read[shortLived], Ct));

        var sent = (await Devices.GetCommandAsync(device.Id, plain, Ct))!;
        Assert.Equal((CommandState.Sent, Time.GetUtcNow()), (sent.State, sent.SentAt));
        var stillAcked = (await Devices.GetCommandAsync(device.Id, acked, Ct))!;
        Assert.Equal((CommandState.Acknowledged, "early", (DateTimeOffset?)null), (stillAcked.State, stillAcked.Response, stillAcked.SentAt));
        Assert.Equal(CommandState.Expired, (await Devices.GetCommandAsync(device.Id, shortLived, Ct))!.State);
        Assert.Equal([plain], (await Devices.GetPendingCommandsAsync(device.Id, Ct)).Select(c => c.Id));
    }

    [Fact]
    public async Task Marking_sent_or_acknowledging_a_command_of_a_deleted_device_is_entity_not_found()
    {
        var device = await NewDeviceAsync();
        var pending = await Devices.AddCommandAsync(device.Id, "a", cancellationToken: Ct);
        var sent = await Devices.AddCommandAsync(device.Id, "b", cancellationToken: Ct);
        var read = (await Devices.GetPendingCommandsAsync(device.Id, Ct)).ToDictionary(c => c.Id);
        Assert.True(await Devices.MarkCommandSentAsync(device.Id, read[sent], Ct));

        Assert.True(await Devices.DeleteAsync(device.Id, Ct));

        await Assert.ThrowsAsync<EntityNotFoundException>(() => Devices.MarkCommandSentAsync(device.Id, read[pending], Ct).AsTask());
        await Assert.ThrowsAsync<EntityNotFoundException>(() => Devices.MarkCommandSentAsync(device.Id, pending, Ct).AsTask());
        await Assert.ThrowsAsync<EntityNotFoundException>(() => Devices.AckCommandAsync(device.Id, sent, "late", Ct).AsTask());
        await Assert.ThrowsAsync<EntityNotFoundException>(() => Devices.AckCommandAsync(Guid.NewGuid(), sent, "late", Ct).AsTask());
        await Assert.ThrowsAsync<EntityNotFoundException>(() => Devices.FailCommandAsync(device.Id, pending, "gone", Ct).AsTask());
    }

    [Fact]
    public async Task An_acknowledgement_sent_again_or_of_a_command_never_marked_sent_is_answered_from_the_stored_state()
    {
        var device = await NewDeviceAsync();
        var unsent = await Devices.AddCommandAsync(device.Id, "a", cancellationToken: Ct);
        var sent = await Devices.AddCommandAsync(device.Id, "b", cancellationToken: Ct);
        Assert.True(await Devices.MarkCommandSentAsync(device.Id, sent, Ct));

        // A device may answer before its node recorded the command sent.
        Assert.True(await Devices.AckCommandAsync(device.Id, unsent, "quick", Ct));
        Assert.True(await Devices.AckCommandAsync(device.Id, sent, "first", Ct));
        // The same acknowledgement again (a device resending after a reconnect): refused, the first response kept.
        Assert.False(await Devices.AckCommandAsync(device.Id, sent, "again", Ct));
        Assert.False(await Devices.AckCommandAsync(device.Id, unsent, "again", Ct));
        Assert.False(await Devices.MarkCommandSentAsync(device.Id, unsent, Ct));

        Assert.Equal((CommandState.Acknowledged, "quick"), ((await Devices.GetCommandAsync(device.Id, unsent, Ct))!.State, (await Devices.GetCommandAsync(device.Id, unsent, Ct))!.Response));
        Assert.Equal((CommandState.Acknowledged, "first"), ((await Devices.GetCommandAsync(device.Id, sent, Ct))!.State, (await Devices.GetCommandAsync(device.Id, sent, Ct))!.Response));
        Assert.Empty(await Devices.GetPendingCommandsAsync(device.Id, Ct));
    }

    [Fact]
    public async Task The_protocol_of_a_device_is_recorded_and_only_known_protocols_are_accepted()
    {
        var device = await NewDeviceAsync();
        Assert.Null(device.Protocol);

        await Devices.SetProtocolAsync(device.Id, DeviceProtocols.Alip, Ct);
        Assert.Equal(DeviceProtocols.Alip, (await Devices.GetAsync(device.Id, Ct))!.Protocol);
        await Devices.SetProtocolAsync(device.Id, DeviceProtocols.M2mp, Ct);
        Assert.Equal(DeviceProtocols.M2mp, (await Devices.GetByIdentAsync(device.Ident, Ct))!.Protocol);
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Devices.SetProtocolAsync(device.Id, "http", Ct).AsTask());
        await Assert.ThrowsAsync<EntityNotFoundException>(() => Devices.SetProtocolAsync(Guid.NewGuid(), DeviceProtocols.Alip, Ct).AsTask());
    }

    [Fact]
    public async Task A_device_created_with_its_protocol_has_it_from_its_creation_and_an_unknown_one_creates_nothing()
    {
        var device = await Devices.CreateAsync("imei:35400000001", null, null, null, DeviceProtocols.Alip, Ct);

        Assert.Equal(DeviceProtocols.Alip, device.Protocol);
        Assert.Equal(device, await Devices.GetByIdentAsync("imei:35400000001", Ct));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Devices.CreateAsync("imei:35400000002", null, null, null, "http", Ct).AsTask());
        Assert.Null(await Devices.GetByIdentAsync("imei:35400000002", Ct));
    }

    [Fact]
    public async Task A_command_whose_time_to_live_passes_before_delivery_expires_and_is_never_sent()
    {
        var device = await NewDeviceAsync();
        var shortLived = await Devices.AddCommandAsync(device.Id, "ping", TimeSpan.FromMinutes(1), Ct);
        var longLived = await Devices.AddCommandAsync(device.Id, "pong", TimeSpan.FromHours(1), Ct);

        Time.Advance(TimeSpan.FromMinutes(2));

        Assert.Equal([longLived], (await Devices.GetPendingCommandsAsync(device.Id, Ct)).Select(c => c.Id));
        Assert.Equal(CommandState.Expired, (await Devices.GetCommandAsync(device.Id, shortLived, Ct))!.State);
        Assert.False(await Devices.MarkCommandSentAsync(device.Id, shortLived, Ct));
        Assert.False(await Devices.AckCommandAsync(device.Id, shortLived, "late", Ct));
        Assert.Null(await Registry.GetValueAsync(EntityPaths.Device(device.Id).Child("commands"), shortLived, Ct));
    }

    [Fact]
    public async Task A_sent_command_does_not_expire()
    {
        var device = await NewDeviceAsync();
        var id = await Devices.AddCommandAsync(device.Id, "ping", TimeSpan.FromMinutes(1), Ct);
        await Devices.MarkCommandSentAsync(device.Id, id, Ct);

        Time.Advance(TimeSpan.FromMinutes(5));

        Assert.Equal(CommandState.Sent, (await Devices.GetCommandAsync(device.Id, id, Ct))!.State);
        Assert.True(await Devices.AckCommandAsync(device.Id, id, cancellationToken: Ct));
    }

    [Fact]
    public async Task Only_a_pending_command_can_be_cancelled()
    {
        var device = await NewDeviceAsync();
        var pending = await Devices.AddCommandAsync(device.Id, "a", cancellationToken: Ct);
        var sent = await Devices.AddCommandAsync(device.Id, "b", cancellationToken: Ct);
        await Devices.MarkCommandSentAsync(device.Id, sent, Ct);

        Assert.True(await Devices.CancelCommandAsync(device.Id, pending, Ct));
        Assert.False(await Devices.CancelCommandAsync(device.Id, sent, Ct));
        Assert.False(await Devices.CancelCommandAsync(device.Id, pending, Ct));

        Assert.Null(await Devices.GetCommandAsync(device.Id, pending, Ct));
        Assert.Equal([sent], (await Devices.GetPendingCommandsAsync(device.Id, Ct)).Select(c => c.Id));
    }

    [Fact]
    public async Task Commands_are_listed_newest_first_in_every_state()
    {
        var device = await NewDeviceAsync();
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add(await Devices.AddCommandAsync(device.Id, $"c{i}", TimeSpan.FromMinutes(1), Ct));
        }
        await Devices.AckCommandAsync(device.Id, ids[0], "done", Ct);
        await Devices.MarkCommandSentAsync(device.Id, ids[1], Ct);
        Time.Advance(TimeSpan.FromMinutes(2));

        var list = await Devices.ListCommandsAsync(device.Id, 10, Ct);

        Assert.Equal(Enumerable.Reverse(ids), list.Select(c => c.Id));
        Assert.Equal([CommandState.Expired, CommandState.Expired, CommandState.Expired, CommandState.Sent, CommandState.Acknowledged], list.Select(c => c.State));
        Assert.Equal(2, (await Devices.ListCommandsAsync(device.Id, 2, Ct)).Count);
    }

    [Fact]
    public async Task An_overlong_command_response_is_kept_truncated_instead_of_failing_the_ack()
    {
        var device = await NewDeviceAsync();
        var id = await Devices.AddCommandAsync(device.Id, "dump", cancellationToken: Ct);

        Assert.True(await Devices.AckCommandAsync(device.Id, id, new string('r', RegistryLimits.MaxValueBytes * 2), Ct));

        Assert.Equal(RegistryLimits.MaxValueBytes, (await Devices.GetCommandAsync(device.Id, id, Ct))!.Response!.Length);
    }

    // ------------------------------------------------------------------ status, sensors, server settings

    [Fact]
    public async Task Status_values_reported_by_the_device_are_kept()
    {
        var device = await NewDeviceAsync();
        Assert.False(await Devices.HasStatusAsync(device.Id, "cap", Ct));

        await Devices.SetStatusAsync(device.Id, "cap", "sen:loc,sms", Ct);
        await Devices.SetStatusAsync(device.Id, "fw", "1.2", Ct);

        Assert.True(await Devices.HasStatusAsync(device.Id, "cap", Ct));
        Assert.Equal(new Dictionary<string, string> { ["cap"] = "sen:loc,sms", ["fw"] = "1.2" }, await Devices.GetStatusAsync(device.Id, Ct));
        await Assert.ThrowsAsync<RegistryValueTooLargeException>(() => Devices.SetStatusAsync(device.Id, "big", new string('x', RegistryLimits.MaxValueBytes + 1), Ct).AsTask());
    }

    [Fact]
    public async Task A_listed_sensor_keeps_its_first_seen_time_and_updates_its_last_seen_time()
    {
        var device = await NewDeviceAsync();
        var t0 = Time.GetUtcNow();

        await Devices.MarkListedSensorAsync(device.Id, "temp/outside", t0, Ct);
        await Devices.MarkListedSensorAsync(device.Id, "temp/outside", t0.AddHours(1), Ct);
        await Devices.MarkListedSensorAsync(device.Id, "door", t0.AddHours(2), Ct);

        Assert.Equal(
            [new ListedSensor("door", t0.AddHours(2), t0.AddHours(2)), new ListedSensor("temp/outside", t0, t0.AddHours(1))],
            await Devices.GetListedSensorsAsync(device.Id, Ct));
    }

    [Fact]
    public async Task Private_and_public_server_settings_are_kept_apart()
    {
        var device = await NewDeviceAsync();

        await Devices.SetServerSettingAsync(device.Id, "name", "private", cancellationToken: Ct);
        await Devices.SetServerSettingAsync(device.Id, "name", "public", isPublic: true, Ct);

        Assert.Equal("private", (await Devices.GetServerSettingsAsync(device.Id, cancellationToken: Ct))["name"]);
        Assert.Equal("public", (await Devices.GetServerSettingsAsync(device.Id, isPublic: true, Ct))["name"]);
        Assert.True(await Devices.DeleteServerSettingAsync(device.Id, "name", cancellationToken: Ct));
        Assert.Empty(await Devices.GetServerSettingsAsync(device.Id, cancellationToken: Ct));
        Assert.Single(await Devices.GetServerSettingsAsync(device.Id, isPublic: true, Ct));
    }

    // ------------------------------------------------------------------ channel translation

    [Fact]
    public async Task Channel_translation_checks_device_rules_in_priority_order_before_default_rules()
    {
        var device = await NewDeviceAsync();
        var other = await NewDeviceAsync("imei:other");
        await Devices.SetChannelTranslationAsync(null, 1, "sen:.*", "default-sensors", Ct);
        await Devices.SetChannelTranslationAsync(null, 2, "can", "default-can", Ct);
        await Devices.SetChannelTranslationAsync(device.Id, 20, "sen:.*", "device-sensors", Ct);
        await Devices.SetChannelTranslationAsync(device.Id, 10, "sen:temp", "device-temp", Ct);

        Assert.Equal("device-temp", await Devices.ResolveChannelTranslationAsync(device.Id, "sen:temp", Ct));
        Assert.Equal("device-sensors", await Devices.ResolveChannelTranslationAsync(device.Id, "sen:loc", Ct));
        Assert.Equal("default-can", await Devices.ResolveChannelTranslationAsync(device.Id, "can", Ct));
        Assert.Equal("default-sensors", await Devices.ResolveChannelTranslationAsync(other.Id, "sen:temp", Ct));
        Assert.Null(await Devices.ResolveChannelTranslationAsync(device.Id, "xsen:temp", Ct)); // rules match the whole name
        Assert.Null(await Devices.ResolveChannelTranslationAsync(device.Id, "echo", Ct));
        Assert.Equal(
            [new ChannelTranslationRule(10, "sen:temp", "device-temp"), new ChannelTranslationRule(20, "sen:.*", "device-sensors")],
            await Devices.GetChannelTranslationsAsync(device.Id, Ct));
        Assert.Equal("device-sensors", await Registry.GetValueAsync(EntityPaths.Device(device.Id).Child("channel-translation"), "0020_sen:.*", Ct));

        Assert.True(await Devices.DeleteChannelTranslationAsync(device.Id, 10, "sen:temp", Ct));
        Assert.Equal("device-sensors", await Devices.ResolveChannelTranslationAsync(device.Id, "sen:temp", Ct));
    }

    [Fact]
    public async Task Invalid_translation_rules_are_refused()
    {
        var device = await NewDeviceAsync();
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Devices.SetChannelTranslationAsync(device.Id, 1, "(unclosed", "t", Ct).AsTask());
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Devices.SetChannelTranslationAsync(device.Id, 10000, "a", "t", Ct).AsTask());
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Devices.SetChannelTranslationAsync(device.Id, 1, "a", "bad topic", Ct).AsTask());
    }

    [Fact]
    public async Task A_pathological_rule_times_out_as_no_match_and_the_next_rule_applies()
    {
        var device = await NewDeviceAsync();
        await Devices.SetChannelTranslationAsync(device.Id, 1, "(a+)+b", "never", Ct);
        await Devices.SetChannelTranslationAsync(device.Id, 2, "a+!", "fallback", Ct);

        var started = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal("fallback", await Devices.ResolveChannelTranslationAsync(device.Id, new string('a', 40) + "!", Ct));
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(10));
    }

    // ------------------------------------------------------------------ upgrade on read, crash repair

    [Fact]
    public async Task A_version_1_device_is_upgraded_when_read()
    {
        var main = await Stores.Domains.EnsureDefaultAsync(Ct);
        var id = Guid.NewGuid();
        var path = EntityPaths.Device(id);
        // Version 1 kept the display name in "name" and had no created_date.
        await Registry.CreateAsync(path, new Dictionary<string, string>
        {
            ["ident"] = "legacy:1",
            ["name"] = "Old Truck",
            ["domain"] = main.Id.ToString("D"),
            [".version"] = "1",
        }, Ct);
        await Registry.SetValueAsync(EntityPaths.DeviceByIdent("legacy:1"), "id", id.ToString("D"), cancellationToken: Ct);

        var device = await Devices.GetByIdentAsync("legacy:1", Ct);

        Assert.Equal(new Device(id, "legacy:1", "Old Truck", main.Id, null, Time.GetUtcNow()), device);
        var values = await Registry.GetValuesAsync(path, Ct);
        Assert.Equal("2", values[".version"]);
        Assert.Equal("Old Truck", values["display_name"]);
        Assert.False(values.ContainsKey("name"));
        Time.Advance(TimeSpan.FromDays(1));
        Assert.Equal(device, await Devices.GetAsync(id, Ct)); // upgraded once: created_date is not refreshed
    }

    [Fact]
    public async Task A_device_without_a_version_is_read_as_version_1()
    {
        var id = Guid.NewGuid();
        await Registry.CreateAsync(EntityPaths.Device(id), new Dictionary<string, string> { ["ident"] = "legacy:2", ["name"] = "N" }, Ct);

        Assert.Equal("N", (await Devices.GetAsync(id, Ct))!.DisplayName);
        Assert.Equal("2", await Registry.GetValueAsync(EntityPaths.Device(id), ".version", Ct));
    }

    [Fact]
    public async Task An_ident_index_left_dangling_by_a_crash_is_taken_over_by_the_next_creation()
    {
        // A crash after claiming the index and before writing the device.
        var lost = Guid.NewGuid();
        await Registry.SetValueAsync(EntityPaths.DeviceByIdent("imei:999"), "id", lost.ToString("D"), cancellationToken: Ct);

        Assert.Null(await Devices.GetByIdentAsync("imei:999", Ct));
        var device = await Devices.GetOrCreateByIdentAsync("imei:999", true, Ct);

        Assert.Equal(DeviceIds.FromIdent("imei:999"), device!.Id);
        Assert.Equal(device, await Devices.GetByIdentAsync("imei:999", Ct));
    }
}
