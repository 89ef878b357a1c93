using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using M2M.Ingest.Hosting;
using static M2M.Api.Tests.Http;

namespace M2M.Api.Tests;

/// <summary>
/// A channel translated to the NMEA converter, set up and read through the API, with a device on the
/// server's ALIP port: the converted locations are queryable as soon as the device's barrier is answered.
/// </summary>
[Collection(ApiCollection.Name)]
public class ConverterEndToEndTests(ApiFixture fixture)
{
    private const string Rmc = "$GPRMC,123519.00,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*44";

    [Fact]
    public async Task Nmea_sent_on_a_translated_channel_is_queryable_as_locations_and_raw_frames_after_the_barrier()
    {
        var ident = "imei:" + Random.Shared.NextInt64(100_000_000_000, 999_999_999_999);
        var created = await DevicesTests.CreateDeviceAsync(fixture.Admin, ident);
        var id = created.GetProperty("id").GetString();
        var rule = await fixture.Admin.PutAsJsonAsync($"/api/registry/device/{id}/channel-translation/", new Dictionary<string, string> { ["0010_nmea"] = "nmea" }, Ct);
        Assert.Equal(HttpStatusCode.OK, rule.StatusCode);

        var endpoints = fixture.Host.Get<IngestEndpoints>();
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, endpoints.Alip!.Port, Ct);
        var stream = client.GetStream();
        using var reader = new StreamReader(stream, Encoding.ASCII);
        async Task<string?> AskAsync(string line)
        {
            await stream.WriteAsync(Encoding.ASCII.GetBytes(line + "\n"), Ct);
            return await reader.ReadLineAsync(Ct).AsTask().WaitAsync(TimeSpan.FromSeconds(15), Ct);
        }
        Assert.Equal("ID 1", await AskAsync($"ID {DevicesTests.Identification(created)}"));
        // The record, then the barrier; the pushes of a new device ("S GA"…) may come before its answer.
        var answer = await AskAsync($"D nmea {Rmc}\nA 42");
        while (answer is not null && !answer.StartsWith("B ", StringComparison.Ordinal))
        {
            answer = await reader.ReadLineAsync(Ct).AsTask().WaitAsync(TimeSpan.FromSeconds(15), Ct);
        }
        Assert.Equal("B 42", answer);

        var locations = await (await fixture.Admin.GetAsync($"/api/devices/{id}/data?type=sen:loc", Ct)).JsonAsync();
        var location = Assert.Single(locations.GetProperty("items").EnumerateArray());
        Assert.Equal(new DateTimeOffset(1994, 3, 23, 12, 35, 19, TimeSpan.Zero), location.GetProperty("time").GetDateTimeOffset());
        Assert.Equal(48.1173, location.GetProperty("data").GetProperty("lat").GetDouble());
        var raw = await (await fixture.Admin.GetAsync($"/api/devices/{id}/data?type=_converter:nmea", Ct)).JsonAsync();
        var frame = Assert.Single(raw.GetProperty("items").EnumerateArray()).GetProperty("data");
        Assert.Equal(("nmea", "converted"), (frame.GetProperty("channel").GetString(), frame.GetProperty("result").GetString()));
    }
}
