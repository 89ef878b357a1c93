using System.Buffers;
using System.Text;
using System.Text.Json;
using M2M.Ingest.Alip;
using M2M.Ingest.Values;

namespace M2M.Ingest.Sessions;

internal sealed partial class AlipSession
{
    /// <summary>
    /// <code>
    /// D-content = type SP content              ; stamped now
    /// E-content = time SP type SP content      ; stamped time
    /// </code>
    /// The type is mapped to the stored type (spec "Data types"); <c>echo</c> is answered, not stored;
    /// a plain-text type matched by the device's channel translation goes to its converter topic.
    /// </summary>
    private async ValueTask OnRecordAsync(ReadOnlyMemory<byte> content, bool timed)
    {
        var rest = content;
        DateTimeOffset? time = null;
        if (timed)
        {
            if (!TryTakeToken(ref rest, out var timeToken) || AlipTime.TryParse(timeToken.Span, out var seconds) != ValueError.None)
            {
                CountError("invalid_time");
                Error(ValueErrors.Reason(ValueError.InvalidTime));
                return;
            }
            time = DeviceTime(seconds);
        }
        if (!TryTakeToken(ref rest, out var type) || type.IsEmpty)
        {
            CountError("invalid_record");
            Error("Invalid record: missing type");
            return;
        }

        var mapped = AlipDataType.Map(type.Span);
        var value = rest.Span;
        switch (mapped.Kind)
        {
            case AlipDataKind.Echo:
                AlipWriter.WriteEcho(Output, value);
                CountOut();
                return;
            case AlipDataKind.Location:
            {
                var error = Location.TryParseAlipL(value, out var location);
                if (error != ValueError.None)
                {
                    CountError("invalid_location");
                    Error(ValueErrors.Reason(error));
                    return;
                }
                await PublishRecordAsync(mapped.StoredType!, time, location.ToJson());
                return;
            }
            case AlipDataKind.TimedLocation:
            {
                var error = Location.TryParseAlipG(value, out var location);
                if (error != ValueError.None)
                {
                    CountError(error == ValueError.InvalidTime ? "invalid_time" : "invalid_location");
                    Error(ValueErrors.Reason(error));
                    return;
                }
                await PublishRecordAsync(mapped.StoredType!, DeviceTime(location.Time!.Value), location.ToJson());
                return;
            }
            case AlipDataKind.ListedSensor:
            {
                var data = JsonString.FromUtf8(value);
                var name = mapped.StoredType!["lsen:".Length..];
                await Services.Devices.MarkListedSensorAsync(DeviceId, name, time ?? Services.Time.GetUtcNow(), Closing);
                await PublishRecordAsync(mapped.StoredType!, time, data);
                return;
            }
            default:
                var text = JsonString.FromUtf8(value);
                if (await GetTranslationAsync(mapped.StoredType!) is { } topic)
                {
                    await PublishToConverterAsync(topic, mapped.StoredType!, time, text, new ReadOnlySequence<byte>(rest));
                    return;
                }
                await PublishRecordAsync(mapped.StoredType!, time, text);
                return;
        }
    }

    /// <summary>
    /// <code>
    /// J-content = time SP type SP json         ; type may not start with "_"
    /// </code>
    /// </summary>
    private async ValueTask OnJsonRecordAsync(ReadOnlyMemory<byte> content)
    {
        var rest = content;
        if (!TryTakeToken(ref rest, out var timeToken) || AlipTime.TryParse(timeToken.Span, out var seconds) != ValueError.None)
        {
            CountError("invalid_time");
            Error(ValueErrors.Reason(ValueError.InvalidTime));
            return;
        }
        if (!TryTakeToken(ref rest, out var type) || type.IsEmpty || type.Span[0] == (byte)'_')
        {
            CountError("invalid_type");
            Error("Invalid type");
            return;
        }
        if (!IsJson(rest.Span))
        {
            CountError("invalid_json");
            Error("Invalid JSON");
            return;
        }
        var mapped = AlipDataType.Map(type.Span);
        var storedType = mapped.StoredType ?? Encoding.UTF8.GetString(type.Span);
        await PublishRecordAsync(storedType, DeviceTime(seconds), Encoding.UTF8.GetString(rest.Span));
    }

    /// <summary>Whether <paramref name="utf8"/> is exactly one JSON document (validated without building it).</summary>
    private static bool IsJson(ReadOnlySpan<byte> utf8)
    {
        if (utf8.IsEmpty)
        {
            return false;
        }
        try
        {
            var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { MaxDepth = 64 });
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
    }

    /// <summary>Takes the next space-separated token off <paramref name="rest"/>.</summary>
    private static bool TryTakeToken(ref ReadOnlyMemory<byte> rest, out ReadOnlyMemory<byte> token)
    {
        if (rest.IsEmpty)
        {
            token = default;
            return false;
        }
        var space = rest.Span.IndexOf((byte)' ');
        if (space < 0)
        {
            token = rest;
            rest = ReadOnlyMemory<byte>.Empty;
        }
        else
        {
            token = rest[..space];
            rest = rest[(space + 1)..];
        }
        return true;
    }
}
