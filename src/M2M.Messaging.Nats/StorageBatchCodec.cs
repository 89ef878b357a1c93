using System.Buffers;
using System.Text;
using System.Text.Json;
using M2M.Storage.TimeSeries;

namespace M2M.Messaging.Nats;

/// <summary>
/// The body of a <c>storage</c> message: records as newline-separated bus messages
/// (data-model.md §5), one per line:
/// <code>
/// {"_from":"&lt;node&gt;","_call":"store_ts","_time":&lt;unix s&gt;,"key":"&lt;series&gt;","type":"&lt;type&gt;","time":"&lt;ISO 8601, 100 ns&gt;","data":&lt;JSON&gt;}\n
/// </code>
/// Many records travel in one JetStream message, so a stream acknowledgement covers a whole batch.
/// </summary>
public static class StorageBatchCodec
{
    private static readonly JsonWriterOptions WriterOptions = new() { SkipValidation = true };

    /// <summary>Appends one record line to <paramref name="buffer"/>.</summary>
    public static void Write(ArrayBufferWriter<byte> buffer, string from, long unixSeconds, in TimeSeriesRecord record)
    {
        using (var json = new Utf8JsonWriter(buffer, WriterOptions))
        {
            json.WriteStartObject();
            json.WriteString("_from"u8, from);
            json.WriteString("_call"u8, Calls.StoreTs);
            json.WriteNumber("_time"u8, unixSeconds);
            json.WriteString("key"u8, record.Id);
            json.WriteString("type"u8, record.Type);
            json.WriteString("time"u8, record.Time.ToUniversalTime());
            json.WritePropertyName("data"u8);
            // Checked as JSON when the record was accepted (IsJson), so written as is.
            json.WriteRawValue(record.Data, skipInputValidation: true);
            json.WriteEndObject();
        }
        buffer.Write("\n"u8);
    }

    /// <summary>Whether <paramref name="data"/> is one well-formed JSON value (a record's data must be).</summary>
    public static bool IsJson(string data)
    {
        var max = Encoding.UTF8.GetMaxByteCount(data.Length);
        byte[]? rented = null;
        var bytes = max <= 1024 ? stackalloc byte[max] : (rented = ArrayPool<byte>.Shared.Rent(max));
        try
        {
            var length = Encoding.UTF8.GetBytes(data, bytes);
            var reader = new Utf8JsonReader(bytes[..length]);
            if (!reader.Read())
            {
                return false;
            }
            reader.Skip();
            return !reader.Read();
        }
        catch (JsonException)
        {
            return false;
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>
    /// Reads the records of a <c>storage</c> message into <paramref name="records"/>. A line that is
    /// not a <c>store_ts</c> record is skipped and counted in <paramref name="invalid"/>.
    /// </summary>
    public static void Read(ReadOnlySpan<byte> body, List<TimeSeriesRecord> records, out int invalid)
    {
        invalid = 0;
        while (!body.IsEmpty)
        {
            var end = body.IndexOf((byte)'\n');
            var line = end < 0 ? body : body[..end];
            body = end < 0 ? [] : body[(end + 1)..];
            if (line.IsEmpty)
            {
                continue;
            }
            if (TryReadLine(line, out var record))
            {
                records.Add(record);
            }
            else
            {
                invalid++;
            }
        }
    }

    private static bool TryReadLine(ReadOnlySpan<byte> line, out TimeSeriesRecord record)
    {
        record = default;
        string? key = null, type = null, data = null, call = null;
        DateTimeOffset? time = null;
        try
        {
            var reader = new Utf8JsonReader(line);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("key"u8))
                {
                    reader.Read();
                    key = reader.GetString();
                }
                else if (reader.ValueTextEquals("type"u8))
                {
                    reader.Read();
                    type = reader.GetString();
                }
                else if (reader.ValueTextEquals("time"u8))
                {
                    reader.Read();
                    time = reader.GetDateTimeOffset();
                }
                else if (reader.ValueTextEquals("_call"u8))
                {
                    reader.Read();
                    call = reader.GetString();
                }
                else if (reader.ValueTextEquals("data"u8))
                {
                    reader.Read();
                    var start = (int)reader.TokenStartIndex;
                    reader.Skip();
                    data = Encoding.UTF8.GetString(line[start..(int)reader.BytesConsumed]);
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            return false;
        }
        if (call != Calls.StoreTs || key is null || type is null || time is null || data is null)
        {
            return false;
        }
        record = new TimeSeriesRecord(key, type, time.Value, data);
        return true;
    }
}
