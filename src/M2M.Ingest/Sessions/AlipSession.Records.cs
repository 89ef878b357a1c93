using System.Buffers;
using System.Text;
using System.Text.Json;
using M2M.Ingest.Alip;
using M2M.Ingest.Values;
using M2M.Storage.TimeSeries;

namespace M2M.Ingest.Sessions;

internal sealed partial class AlipSession
{
    /// <summary>
    /// <code>
    /// D-content = type SP content              ; stamped now
    /// E-content = time SP type SP content      ; stamped time
    /// </code>
    /// Every field is required (absent or empty: <c>ERR Missing …</c>). The type is mapped to the
    /// stored type (spec "Data types"); <c>echo</c> is answered, not stored; a plain-text type matched
    /// by the device's channel translation goes to its converter topic.
    /// </summary>
    private async ValueTask OnRecordAsync(ReadOnlyMemory<byte> content, bool timed)
    {
        var rest = content;
        DateTimeOffset? time = null;
        if (timed)
        {
            if (!TryTakeToken(ref rest, out var timeToken) || timeToken.IsEmpty)
            {
                Missing("time");
                return;
            }
            if (AlipTime.TryParse(timeToken.Span, out var seconds) != ValueError.None)
            {
                Refuse(ValueError.InvalidTime);
                return;
            }
            time = DeviceTime(seconds);
        }
        if (!TryTakeToken(ref rest, out var type) || type.IsEmpty)
        {
            Missing("type");
            return;
        }
        if (rest.IsEmpty)
        {
            Missing("content");
            return;
        }
        if (type.Length > TimeSeriesLimits.MaxTypeBytes)
        {
            Refuse(ValueError.InvalidType);
            return;
        }

        var mapped = AlipDataType.Map(type.Span);
        var value = rest.Span;
        if (mapped.Kind == AlipDataKind.Echo)
        {
            AlipWriter.WriteEcho(Output, value);
            CountOut();
            return;
        }
        if (!DeviceText.IsValidRecordType(mapped.StoredType!) || (mapped.Kind == AlipDataKind.ListedSensor && mapped.StoredType!.Length == "lsen:".Length))
        {
            Refuse(ValueError.InvalidType);
            return;
        }

        switch (mapped.Kind)
        {
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
        }

        var text = JsonString.FromUtf8(value);
        if (!DeviceText.FitsRecord(text))
        {
            Refuse(ValueError.RecordTooLarge);
            return;
        }
        if (mapped.Kind == AlipDataKind.ListedSensor)
        {
            await MarkListedSensorAsync(mapped.StoredType!["lsen:".Length..], time ?? Services.Time.GetUtcNow());
            await PublishRecordAsync(mapped.StoredType!, time, text);
            return;
        }
        if (await GetTranslationAsync(mapped.StoredType!) is { } topic)
        {
            await PublishToConverterAsync(topic, mapped.StoredType!, time, text, new ReadOnlySequence<byte>(rest));
            return;
        }
        await PublishRecordAsync(mapped.StoredType!, time, text);
    }

    /// <summary>
    /// <code>
    /// J-content = time SP type SP json         ; every field required
    /// </code>
    /// The type is stored as sent: the ALIP type mapping is for the text content of <c>D</c> and
    /// <c>E</c>, whose types say how to decode it; a JSON record is already in its stored form.
    /// Types starting with <c>_</c> are refused (the platform's own); a <c>sen:loc</c> record must be
    /// a location object as the platform stores them (<see cref="Location.TryParseJson"/>), stored in
    /// its normal form.
    /// </summary>
    private async ValueTask OnJsonRecordAsync(ReadOnlyMemory<byte> content)
    {
        var rest = content;
        if (!TryTakeToken(ref rest, out var timeToken) || timeToken.IsEmpty)
        {
            Missing("time");
            return;
        }
        if (AlipTime.TryParse(timeToken.Span, out var seconds) != ValueError.None)
        {
            Refuse(ValueError.InvalidTime);
            return;
        }
        if (!TryTakeToken(ref rest, out var type) || type.IsEmpty)
        {
            Missing("type");
            return;
        }
        if (rest.IsEmpty)
        {
            Missing("JSON");
            return;
        }
        var storedType = type.Length <= TimeSeriesLimits.MaxTypeBytes ? Encoding.UTF8.GetString(type.Span) : "";
        if (!DeviceText.IsValidRecordType(storedType))
        {
            Refuse(ValueError.InvalidType);
            return;
        }
        if (!IsJson(rest.Span))
        {
            CountError("invalid_json");
            Error("Invalid JSON");
            return;
        }
        string data;
        if (storedType == "sen:loc")
        {
            if (Location.TryParseJson(rest.Span, out var location) != ValueError.None)
            {
                CountError("invalid_location");
                Error(ValueErrors.Reason(ValueError.InvalidLocation));
                return;
            }
            data = location.ToJson();
        }
        else
        {
            data = Encoding.UTF8.GetString(rest.Span);
            if (!DeviceText.FitsRecord(data))
            {
                Refuse(ValueError.RecordTooLarge);
                return;
            }
        }
        await PublishRecordAsync(storedType, DeviceTime(seconds), data);
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
