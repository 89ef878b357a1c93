using System.Text;
using System.Text.Json.Nodes;

namespace M2M.Messaging.Tests;

public class BusMessageTests
{
    [Fact]
    public void Serialized_message_is_one_flat_object_with_underscore_headers()
    {
        var message = new BusMessage(Calls.DeviceConnected, "ingest-1", to: "api", time: 1700000000)
            .With("connection_id", "ingest-1:42")
            .With("device_id", "3f1c")
            .With("duration", 12.5);

        var json = JsonNode.Parse(message.ToJsonUtf8())!.AsObject();

        Assert.Equal("ingest-1", (string?)json["_from"]);
        Assert.Equal("api", (string?)json["_to"]);
        Assert.Equal("device_connected", (string?)json["_call"]);
        Assert.Equal(1700000000, (long?)json["_time"]);
        Assert.Equal("ingest-1:42", (string?)json["connection_id"]);
        Assert.Equal(12.5, (double?)json["duration"]);
    }

    [Fact]
    public void Parse_reads_back_what_was_written()
    {
        var original = new BusMessage(Calls.SendSettings, "api", time: 1700000001).With("device_id", "abc").With("count", 3);

        var parsed = BusMessage.Parse(original.ToJsonUtf8());

        Assert.Equal(Calls.SendSettings, parsed.Call);
        Assert.Equal("api", parsed.From);
        Assert.Null(parsed.To);
        Assert.Equal(1700000001, parsed.Time);
        Assert.Equal("abc", parsed.GetString("device_id"));
        Assert.Equal(3, parsed.GetInt64("count"));
        Assert.False(parsed.Fields.ContainsKey("_call"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("[1,2]")]
    [InlineData("{\"_from\":\"x\"}")]
    [InlineData("{\"_call\":\"x\"}")]
    [InlineData("{\"_call\":\"x\",\"_from\":")]
    public void Parse_refuses_what_is_not_a_message(string json)
    {
        Assert.Throws<FormatException>(() => BusMessage.Parse(Encoding.UTF8.GetBytes(json)));
    }

    [Fact]
    public void Missing_field_reads_as_null()
    {
        var message = new BusMessage(Calls.Disconnect, "api").With("device_id", "x");

        Assert.Null(message.GetString("connection_id"));
        Assert.Null(message.GetInt64("device_id"));
    }
}
