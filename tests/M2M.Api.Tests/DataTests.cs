using System.Net;
using System.Text.Json;
using M2M.Storage.TimeSeries;
using static M2M.Api.Tests.Http;

namespace M2M.Api.Tests;

[Collection(ApiCollection.Name)]
public class DataTests(ApiFixture fixture)
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private async Task<Guid> DeviceWithRecordsAsync(int count)
    {
        var id = Guid.Parse((await DevicesTests.CreateDeviceAsync(fixture.Admin)).GetProperty("id").GetString()!);
        var records = new List<TimeSeriesRecord>();
        for (var i = 0; i < count; i++)
        {
            records.Add(new TimeSeriesRecord($"dev-{id:D}", "sen:temp", T0.AddMinutes(i), $"{{\"v\":{i}}}"));
        }
        records.Add(new TimeSeriesRecord($"dev-{id:D}", "sen:loc", T0.AddMinutes(1), "{\"lat\":48.85,\"lon\":2.35}"));
        await fixture.Host.Get<ITimeSeriesStore>().SaveManyAsync(records, Ct);
        return id;
    }

    [Fact]
    public async Task Query_returns_records_newest_first_with_data_as_json()
    {
        var id = await DeviceWithRecordsAsync(3);

        var page = await (await fixture.Admin.GetAsync($"/api/devices/{id}/data?type=sen:temp", Ct)).JsonAsync();
        var items = page.GetProperty("items").EnumerateArray().ToList();

        Assert.Equal(3, items.Count);
        Assert.Equal("sen:temp", items[0].GetProperty("type").GetString());
        Assert.Equal(T0.AddMinutes(2), items[0].GetProperty("time").GetDateTimeOffset());
        Assert.Equal(JsonValueKind.Object, items[0].GetProperty("data").ValueKind);
        Assert.Equal(2, items[0].GetProperty("data").GetProperty("v").GetInt32());
        Assert.Equal(JsonValueKind.Null, page.GetProperty("next").ValueKind);
    }

    [Fact]
    public async Task Query_ascending_within_a_range_pages_with_a_cursor()
    {
        var id = await DeviceWithRecordsAsync(10);
        var from = Uri.EscapeDataString(T0.AddMinutes(2).ToString("O"));
        var to = Uri.EscapeDataString(T0.AddMinutes(8).ToString("O"));

        var values = new List<int>();
        string? cursor = null;
        var pages = 0;
        do
        {
            var url = $"/api/devices/{id}/data?type=sen:temp&from={from}&to={to}&order=asc&limit=3" + (cursor is null ? "" : $"&cursor={Uri.EscapeDataString(cursor)}");
            var page = await (await fixture.Admin.GetAsync(url, Ct)).JsonAsync();
            values.AddRange(page.GetProperty("items").EnumerateArray().Select(r => r.GetProperty("data").GetProperty("v").GetInt32()));
            cursor = page.GetProperty("next").ValueKind == JsonValueKind.Null ? null : page.GetProperty("next").GetString();
            pages++;
        }
        while (cursor is not null && pages < 10);

        Assert.Equal([2, 3, 4, 5, 6, 7, 8], values);
    }

    [Fact]
    public async Task All_types_are_returned_without_a_type()
    {
        var id = await DeviceWithRecordsAsync(2);

        var page = await (await fixture.Admin.GetAsync($"/api/devices/{id}/data?order=asc", Ct)).JsonAsync();

        Assert.Equal(3, page.GetProperty("items").GetArrayLength());
        Assert.Contains(page.GetProperty("items").EnumerateArray(), r => r.GetProperty("type").GetString() == "sen:loc");
    }

    [Fact]
    public async Task Latest_gives_the_newest_record_of_each_type()
    {
        var id = await DeviceWithRecordsAsync(5);

        var latest = await (await fixture.Admin.GetAsync($"/api/devices/{id}/data/latest", Ct)).JsonAsync();
        var device = await (await fixture.Admin.GetAsync($"/api/devices/{id}", Ct)).JsonAsync();

        Assert.Equal(4, latest.GetProperty("sen:temp").GetProperty("data").GetProperty("v").GetInt32());
        Assert.Equal(T0.AddMinutes(4), latest.GetProperty("sen:temp").GetProperty("time").GetDateTimeOffset());
        Assert.Equal(48.85, latest.GetProperty("sen:loc").GetProperty("data").GetProperty("lat").GetDouble());
        Assert.Equal(T0.AddMinutes(4), device.GetProperty("lastSeen").GetDateTimeOffset());
    }

    [Theory]
    [InlineData("from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z", "to")]
    [InlineData("from=yesterday", "from")]
    [InlineData("to=13/45/2026", "to")]
    [InlineData("order=sideways", "order")]
    [InlineData("limit=0", "limit")]
    [InlineData("limit=10001", "limit")]
    [InlineData("limit=many", "limit")]
    [InlineData("cursor=garbage!", "cursor")]
    public async Task Bad_query_is_400_naming_the_field(string query, string field)
    {
        var id = await DeviceWithRecordsAsync(1);

        var response = await fixture.Admin.GetAsync($"/api/devices/{id}/data?{query}", Ct);

        await response.AssertProblemAsync(400, field);
    }

    [Fact]
    public async Task Cursor_of_another_list_is_refused()
    {
        var id = await DeviceWithRecordsAsync(1);
        await DevicesTests.CreateDeviceAsync(fixture.Admin);
        var devices = await (await fixture.Admin.GetAsync("/api/devices?limit=1", Ct)).JsonAsync();
        var deviceCursor = devices.GetProperty("next").GetString();

        var response = await fixture.Admin.GetAsync($"/api/devices/{id}/data?cursor={Uri.EscapeDataString(deviceCursor!)}", Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }
}
