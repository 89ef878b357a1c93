using System.Text;
using System.Text.Json;
using M2M.Api.Apis;

namespace M2M.Api.Tests;

/// <summary>
/// <see cref="FleetLocation.TryParse"/> reads <c>sen:loc</c> data with a reader instead of a parsed document:
/// the same answers as the document (kept here as the reference), input by input, and no document allocated.
/// </summary>
public sealed class FleetLocationTests
{
    private static readonly DateTimeOffset Time = new(2026, 11, 30, 4, 0, 0, TimeSpan.Zero);

    private static readonly string[] Samples =
    [
        """{"lat":48.1173,"lon":11.5166667,"spd":41.48,"alt":545.4}""",
        """{"lat":48.1173,"lon":11.5166667}""",
        """ { "lon" : -0.5 , "lat" : 1e2 } """,
        """{"lat":1,"lon":2,"spd":"fast","alt":null}""",
        """{"sat":7}""",
        """{"lat":"48.1","lon":11.5}""",
        """{"lat":1,"lon":2,"lat":3}""",
        """{"lat":1,"lon":2,"lat":"x"}""",
        """{"l\u0061t":5,"lon":6}""",
        """{"lat":1,"lon":2,"extra":{"lat":9,"deep":[1,2,{"lon":3}]},"alt":4}""",
        """{"lat":1,"lon":[2]}""",
        """[48.1,11.5]""",
        "\"text\"",
        "42",
        "null",
        "",
        "   ",
        "not json",
        """{"lat":1,"lon":2""",
        """{"lat":1,"lon":2}}""",
        """{"lat":1,"lon":2} x""",
        """{"lat":1,"lon":2,}""",
        """{"lat":1,"lon":2 /* comment */}""",
        """{"lat":1,"lon":2,"extra":{"a":[1,2}}""",
        """{"lat":-90,"lon":180,"spd":0,"alt":-0.0}""",
        "{\"lat\":1,\"lon\":2,\"name\":\"" + new string('é', 600) + "\"}",
        "{\"lat\":1,\"lon\":2,\"name\":\"" + new string('x', 2000) + "\"",
    ];

    public static TheoryData<string> Inputs() => [.. Samples];

    [Theory]
    [MemberData(nameof(Inputs))]
    public void Reads_what_a_parsed_document_reads(string data)
    {
        Assert.Equal(Reference(data), FleetLocation.TryParse(Time, data));
    }

    [Fact]
    public void A_position_has_its_values_and_the_records_time()
    {
        var location = FleetLocation.TryParse(Time, """{"lat":48.1173,"lon":11.5166667,"spd":41.48,"alt":545.4}""");

        Assert.Equal(new FleetLocation(Time, 48.1173, 11.5166667, 41.48, 545.4), location);
    }

    [Fact]
    public void A_number_beyond_the_range_of_a_double_is_not_a_number_instead_of_an_error()
    {
        // A parsed document reads infinity here, which the fleet API could not write as JSON.
        Assert.Null(FleetLocation.TryParse(Time, """{"lat":1e400,"lon":2}"""));
        Assert.Equal(new FleetLocation(Time, 1, 2, null, null), FleetLocation.TryParse(Time, """{"lat":1,"lon":2,"spd":-1e400}"""));
    }

    [Fact]
    public void Reading_a_position_allocates_only_the_result()
    {
        const string data = """{"lat":48.1173,"lon":11.5166667,"spd":41.48,"alt":545.4}""";
        FleetLocation.TryParse(Time, data);
        var least = long.MaxValue;
        for (var i = 0; i < 5; i++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            var location = FleetLocation.TryParse(Time, data);
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
            Assert.NotNull(location);
        }

        // The FleetLocation itself (object header, time, four numbers): well under what a JsonDocument takes.
        Assert.InRange(least, 1, 128);
    }

    /// <summary>The former implementation: a parsed document (a number out of range counted as not a number, as now).</summary>
    private static FleetLocation? Reference(string data)
    {
        try
        {
            using var json = JsonDocument.Parse(data);
            var root = json.RootElement;
            if (root.ValueKind == JsonValueKind.Object && Number(root, "lat") is { } lat && Number(root, "lon") is { } lon)
            {
                return new FleetLocation(Time, lat, lon, Number(root, "spd"), Number(root, "alt"));
            }
        }
        catch (JsonException)
        {
        }
        return null;
    }

    private static double? Number(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out var number) && double.IsFinite(number) ? number : null;

    [Fact]
    public void The_inputs_cover_valid_and_invalid_documents()
    {
        // The reference must see both kinds, or the comparison above proves little.
        var answers = Samples.Select(Reference).ToList();
        Assert.Contains(answers, a => a is not null);
        Assert.Contains(answers, a => a is null);
        Assert.Contains(Samples, s => Encoding.UTF8.GetByteCount(s) > 512);
    }
}
