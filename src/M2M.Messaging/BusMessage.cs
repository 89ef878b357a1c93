using System.Text.Json;
using System.Text.Json.Nodes;

namespace M2M.Messaging;

/// <summary>
/// A bus message: a JSON object with <c>_from</c>, <c>_to</c>, <c>_call</c>, <c>_time</c> (unix
/// seconds) and the call's own fields (data-model.md §5).
/// </summary>
public sealed class BusMessage
{
    private const string FromField = "_from";
    private const string ToField = "_to";
    private const string CallField = "_call";
    private const string TimeField = "_time";

    public BusMessage(string call, string from, string? to = null, JsonObject? fields = null, long? time = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(call);
        ArgumentException.ThrowIfNullOrEmpty(from);
        Call = call;
        From = from;
        To = to;
        Time = time ?? DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        Fields = fields ?? [];
    }

    /// <summary>What the message asks or tells, e.g. <c>send_settings</c>, <c>device_connected</c>.</summary>
    public string Call { get; }

    /// <summary>The sender (a node or component name).</summary>
    public string From { get; }

    /// <summary>The addressee, when the message has one.</summary>
    public string? To { get; }

    /// <summary>When the message was made, unix seconds.</summary>
    public long Time { get; }

    /// <summary>The call's own fields (no <c>_</c>-prefixed names).</summary>
    public JsonObject Fields { get; }

    public string? GetString(string name) => Fields[name] is JsonValue v && v.TryGetValue(out string? s) ? s : null;

    public long? GetInt64(string name) => Fields[name] is JsonValue v && v.TryGetValue(out long l) ? l : null;

    public double? GetDouble(string name) => Fields[name] is JsonValue v && v.TryGetValue(out double d) ? d : null;

    public BusMessage With(string name, JsonNode? value)
    {
        Fields[name] = value;
        return this;
    }

    /// <summary>The message as one flat JSON object.</summary>
    public byte[] ToJsonUtf8()
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString(FromField, From);
            if (To is not null)
            {
                writer.WriteString(ToField, To);
            }
            writer.WriteString(CallField, Call);
            writer.WriteNumber(TimeField, Time);
            foreach (var (name, value) in Fields)
            {
                writer.WritePropertyName(name);
                if (value is null)
                {
                    writer.WriteNullValue();
                }
                else
                {
                    value.WriteTo(writer);
                }
            }
            writer.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Reads a message written by <see cref="ToJsonUtf8"/> (or by any peer following the same shape).</summary>
    /// <exception cref="FormatException">Not a JSON object, or <c>_call</c> / <c>_from</c> missing.</exception>
    public static BusMessage Parse(ReadOnlySpan<byte> utf8Json)
    {
        JsonObject obj;
        try
        {
            obj = JsonNode.Parse(utf8Json) as JsonObject ?? throw new FormatException("A bus message must be a JSON object.");
        }
        catch (JsonException e)
        {
            throw new FormatException($"A bus message must be valid JSON: {e.Message}", e);
        }

        var call = Take(obj, CallField) ?? throw new FormatException("A bus message needs _call.");
        var from = Take(obj, FromField) ?? throw new FormatException("A bus message needs _from.");
        var to = Take(obj, ToField);
        long? time = null;
        if (obj[TimeField] is JsonValue t && t.TryGetValue(out long seconds))
        {
            time = seconds;
        }
        obj.Remove(TimeField);
        return new BusMessage(call, from, to, obj, time);

        static string? Take(JsonObject o, string name)
        {
            var value = o[name] is JsonValue v && v.TryGetValue(out string? s) ? s : null;
            o.Remove(name);
            return value;
        }
    }

    public override string ToString() => System.Text.Encoding.UTF8.GetString(ToJsonUtf8());
}
