using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using M2M.Messaging;
using M2M.Storage.Entities;
using static M2M.Api.Tests.Http;

namespace M2M.Api.Tests;

[Collection(ApiCollection.Name)]
public class SettingsAndCommandsTests(ApiFixture fixture)
{
    private HttpClient Admin => fixture.Admin;

    private async Task<Guid> NewDeviceAsync() => Guid.Parse((await DevicesTests.CreateDeviceAsync(Admin)).GetProperty("id").GetString()!);

    private Task<BusMessage> NextPushAsync(Guid id, out IDisposable subscription)
    {
        var received = new TaskCompletionSource<BusMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        subscription = fixture.Host.Get<IMessageBus>().Subscribe(Topics.Device(id), m =>
        {
            received.TrySetResult(m);
            return ValueTask.CompletedTask;
        });
        return received.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
    }

    [Fact]
    public async Task Put_settings_stores_them_pending_and_pushes_send_settings()
    {
        var id = await NewDeviceAsync();
        var push = NextPushAsync(id, out var subscription);
        using (subscription)
        {
            var response = await Admin.PutAsJsonAsync($"/api/devices/{id}/settings", new Dictionary<string, string> { ["gps_period"] = "60", ["apn"] = "internet.example" }, Ct);
            var message = await push;

            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
            Assert.Equal(Calls.SendSettings, message.Call);
            Assert.Equal(id.ToString("D"), message.GetString("device_id"));
        }
        var settings = await (await Admin.GetAsync($"/api/devices/{id}/settings", Ct)).JsonAsync();

        Assert.Equal("60", settings.GetProperty("gps_period").GetProperty("value").GetString());
        Assert.True(settings.GetProperty("gps_period").GetProperty("pending").GetBoolean());
        Assert.Equal(JsonValueKind.Null, settings.GetProperty("gps_period").GetProperty("ackedAt").ValueKind);
        Assert.Equal("internet.example", settings.GetProperty("apn").GetProperty("value").GetString());
    }

    [Fact]
    public async Task Acknowledged_setting_shows_ack_time_and_is_no_longer_pending()
    {
        var id = await NewDeviceAsync();
        await Admin.PutAsJsonAsync($"/api/devices/{id}/settings", new Dictionary<string, string> { ["gps_period"] = "60" }, Ct);
        var ackTime = DateTimeOffset.UtcNow;
        await fixture.Host.Get<IDeviceStore>().AckSettingAsync(id, "gps_period", "60", ackTime, Ct);

        var setting = (await (await Admin.GetAsync($"/api/devices/{id}/settings", Ct)).JsonAsync()).GetProperty("gps_period");

        Assert.False(setting.GetProperty("pending").GetBoolean());
        Assert.InRange(setting.GetProperty("ackedAt").GetDateTimeOffset(), ackTime.AddSeconds(-1), ackTime.AddSeconds(1));
    }

    [Fact]
    public async Task Delete_setting_removes_it()
    {
        var id = await NewDeviceAsync();
        await Admin.PutAsJsonAsync($"/api/devices/{id}/settings", new Dictionary<string, string> { ["a"] = "1", ["b"] = "2" }, Ct);

        var deleted = await Admin.DeleteAsync($"/api/devices/{id}/settings/a", Ct);
        var again = await Admin.DeleteAsync($"/api/devices/{id}/settings/a", Ct);
        var settings = await (await Admin.GetAsync($"/api/devices/{id}/settings", Ct)).JsonAsync();

        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        await again.AssertProblemAsync(404);
        Assert.Equal(["b"], settings.EnumerateObject().Select(p => p.Name));
    }

    [Theory]
    [InlineData("{}", "$")]
    [InlineData("{\"bad name\":\"1\"}", "bad name")]
    [InlineData("{\"ok\":\"line\\nbreak\"}", "ok")]
    [InlineData("{\"ok\":5}", "ok")]
    [InlineData("{\".hidden\":\"1\"}", ".hidden")]
    [InlineData("[\"a\"]", "$")]
    public async Task Bad_settings_are_400_and_nothing_is_written(string json, string field)
    {
        var id = await NewDeviceAsync();

        var response = await Admin.PutAsync($"/api/devices/{id}/settings", RawJson(json.StartsWith("{\"", StringComparison.Ordinal) ? "{\"good\":\"1\"," + json[1..] : json), Ct);
        var settings = await (await Admin.GetAsync($"/api/devices/{id}/settings", Ct)).JsonAsync();

        await response.AssertProblemAsync(400, field);
        Assert.Empty(settings.EnumerateObject());
    }

    [Fact]
    public async Task Command_is_queued_pending_pushed_and_listed()
    {
        var id = await NewDeviceAsync();
        var push = NextPushAsync(id, out var subscription);
        JsonElement created;
        using (subscription)
        {
            var response = await Admin.PostAsJsonAsync($"/api/devices/{id}/commands", new { text = "reboot now", ttlSeconds = 3600 }, Ct);
            created = await response.JsonAsync();

            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
            Assert.Equal(Calls.SendCommands, (await push).Call);
        }
        var list = await (await Admin.GetAsync($"/api/devices/{id}/commands", Ct)).JsonAsync();
        var item = Assert.Single(list.GetProperty("items").EnumerateArray());

        Assert.Equal("pending", created.GetProperty("state").GetString());
        Assert.Equal(created.GetProperty("id").GetString(), item.GetProperty("id").GetString());
        Assert.Equal("reboot now", item.GetProperty("text").GetString());
        Assert.Equal("pending", item.GetProperty("state").GetString());
        Assert.Equal(JsonValueKind.Null, item.GetProperty("sentAt").ValueKind);
        Assert.Equal(JsonValueKind.Null, list.GetProperty("next").ValueKind);
    }

    [Fact]
    public async Task Command_states_follow_delivery_and_acknowledgement()
    {
        var id = await NewDeviceAsync();
        var store = fixture.Host.Get<IDeviceStore>();
        var commandId = (await (await Admin.PostAsJsonAsync($"/api/devices/{id}/commands", new { text = "status" }, Ct)).JsonAsync()).GetProperty("id").GetString()!;

        await store.MarkCommandSentAsync(id, commandId, Ct);
        var sent = await (await Admin.GetAsync($"/api/devices/{id}/commands/{commandId}", Ct)).JsonAsync();
        var cancelSent = await Admin.DeleteAsync($"/api/devices/{id}/commands/{commandId}", Ct);
        await store.AckCommandAsync(id, commandId, "ok: 42", Ct);
        var acked = await (await Admin.GetAsync($"/api/devices/{id}/commands/{commandId}", Ct)).JsonAsync();

        Assert.Equal("sent", sent.GetProperty("state").GetString());
        await cancelSent.AssertProblemAsync(409);
        Assert.Equal("acknowledged", acked.GetProperty("state").GetString());
        Assert.Equal("ok: 42", acked.GetProperty("response").GetString());
        Assert.NotEqual(JsonValueKind.Null, acked.GetProperty("ackedAt").ValueKind);
    }

    [Fact]
    public async Task Pending_command_can_be_cancelled()
    {
        var id = await NewDeviceAsync();
        var commandId = (await (await Admin.PostAsJsonAsync($"/api/devices/{id}/commands", new { text = "reboot" }, Ct)).JsonAsync()).GetProperty("id").GetString();

        var cancelled = await Admin.DeleteAsync($"/api/devices/{id}/commands/{commandId}", Ct);
        var pending = await fixture.Host.Get<IDeviceStore>().GetPendingCommandsAsync(id, Ct);
        var unknown = await Admin.DeleteAsync($"/api/devices/{id}/commands/nosuchcommand", Ct);

        Assert.Equal(HttpStatusCode.NoContent, cancelled.StatusCode);
        Assert.Empty(pending);
        await unknown.AssertProblemAsync(404);
    }

    [Fact]
    public async Task Commands_page_newest_first_with_a_cursor()
    {
        var id = await NewDeviceAsync();
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add((await (await Admin.PostAsJsonAsync($"/api/devices/{id}/commands", new { text = $"cmd {i}" }, Ct)).JsonAsync()).GetProperty("id").GetString()!);
        }

        var first = await (await Admin.GetAsync($"/api/devices/{id}/commands?limit=3", Ct)).JsonAsync();
        var next = first.GetProperty("next").GetString();
        var second = await (await Admin.GetAsync($"/api/devices/{id}/commands?limit=3&cursor={Uri.EscapeDataString(next!)}", Ct)).JsonAsync();
        var seen = first.GetProperty("items").EnumerateArray().Concat(second.GetProperty("items").EnumerateArray()).Select(c => c.GetProperty("text").GetString()).ToList();

        Assert.Equal(["cmd 4", "cmd 3", "cmd 2", "cmd 1", "cmd 0"], seen);
        Assert.Equal(JsonValueKind.Null, second.GetProperty("next").ValueKind);
    }

    [Fact]
    public async Task A_command_may_hold_several_lines_and_tabs()
    {
        var id = await NewDeviceAsync();

        var response = await Admin.PostAsJsonAsync($"/api/devices/{id}/commands", new { text = "set apn\tinternet\nreboot" }, Ct);
        var created = await response.JsonAsync();
        var command = await (await Admin.GetAsync($"/api/devices/{id}/commands/{created.GetProperty("id").GetString()}", Ct)).JsonAsync();

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("set apn\tinternet\nreboot", command.GetProperty("text").GetString());
        Assert.Equal("pending", command.GetProperty("state").GetString());
        Assert.Equal(JsonValueKind.Null, command.GetProperty("failure").ValueKind);
    }

    [Fact]
    public async Task A_multi_line_command_for_a_device_that_speaks_ALIP_is_400_with_the_reason()
    {
        var id = await NewDeviceAsync();
        await fixture.Host.Get<IDeviceStore>().SetProtocolAsync(id, DeviceProtocols.Alip, Ct);

        var multi = await Admin.PostAsJsonAsync($"/api/devices/{id}/commands", new { text = "line 1\nline 2" }, Ct);
        var single = await Admin.PostAsJsonAsync($"/api/devices/{id}/commands", new { text = "line 1\tand a tab" }, Ct);
        var device = await (await Admin.GetAsync($"/api/devices/{id}", Ct)).JsonAsync();

        var problem = await multi.AssertProblemAsync(400, "text");
        Assert.Contains("ALIP", problem.GetProperty("errors").GetProperty("text")[0].GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Created, single.StatusCode);
        Assert.Equal("alip", device.GetProperty("protocol").GetString());
    }

    [Fact]
    public async Task A_failed_command_shows_its_state_time_and_reason_and_cannot_be_cancelled()
    {
        var id = await NewDeviceAsync();
        var commandId = (await (await Admin.PostAsJsonAsync($"/api/devices/{id}/commands", new { text = "a\nb" }, Ct)).JsonAsync()).GetProperty("id").GetString()!;

        Assert.True(await fixture.Host.Get<IDeviceStore>().FailCommandAsync(id, commandId, "cannot carry it", Ct));
        var failed = await (await Admin.GetAsync($"/api/devices/{id}/commands/{commandId}", Ct)).JsonAsync();
        var cancel = await Admin.DeleteAsync($"/api/devices/{id}/commands/{commandId}", Ct);

        Assert.Equal("failed", failed.GetProperty("state").GetString());
        Assert.Equal("cannot carry it", failed.GetProperty("failure").GetString());
        Assert.NotEqual(JsonValueKind.Null, failed.GetProperty("failedAt").ValueKind);
        Assert.Equal(JsonValueKind.Null, failed.GetProperty("sentAt").ValueKind);
        await cancel.AssertProblemAsync(409);
        Assert.Empty(await fixture.Host.Get<IDeviceStore>().GetPendingCommandsAsync(id, Ct));
    }

    [Theory]
    [InlineData("{\"text\":\"\"}", "text")]
    [InlineData("{\"text\":\"two\\r\\nlines\"}", "text")]
    [InlineData("{\"text\":\"bell\\u0007\"}", "text")]
    [InlineData("{\"text\":\"next line\\u0085\"}", "text")]
    [InlineData("{\"text\":\"ok\",\"ttlSeconds\":0}", "ttlSeconds")]
    [InlineData("{\"text\":\"ok\",\"ttlSeconds\":\"soon\"}", "ttlSeconds")]
    [InlineData("{\"text\":\"ok\",\"priority\":1}", "priority")]
    public async Task Bad_command_is_400_naming_the_field(string json, string field)
    {
        var id = await NewDeviceAsync();

        var response = await Admin.PostAsync($"/api/devices/{id}/commands", RawJson(json), Ct);

        await response.AssertProblemAsync(400, field);
    }
}
