using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using M2M.Ingest.Converters;
using M2M.Ingest.Values;
using M2M.Messaging;
using M2M.Storage.TimeSeries;
using Microsoft.Extensions.Logging;

namespace M2M.Ingest.Sessions;

internal abstract partial class DeviceSession
{
    /// <summary>Most records a converter may make of one frame; the rest are refused.</summary>
    internal const int MaxConvertedRecords = 1000;

    /// <summary>Payload bytes per raw record: their hex form and the JSON around it stay well under a record's data limit.</summary>
    internal const int RawChunkBytes = 256 * 1024;

    private bool _converterFaultLogged;

    /// <summary>
    /// The one route of a translated channel's frame, for both protocols: (1) the in-process converter of
    /// <paramref name="topic"/>, if one is registered, makes records of it, which go to the storage topic;
    /// (2) the raw frame goes to the storage topic too, as a <c>_converter:&lt;topic&gt;</c> record (payload
    /// in hex and what the converter did) — so whatever the converter did, the frame is durable before the
    /// device's next barrier is answered, on every topology; (3) the frame is announced on the bus subject
    /// <c>converter.&lt;topic&gt;</c> for external converters (a JetStream subject when distributed).
    /// </summary>
    protected async ValueTask PublishToConverterAsync(string topic, string channel, DateTimeOffset? deviceTime, string data, ReadOnlySequence<byte> payload)
    {
        var time = deviceTime ?? Services.Time.GetUtcNow();
        var raw = payload.ToArray();
        ConversionOutcome? outcome = null;
        if (Services.Converters.Find(topic) is { } converter)
        {
            outcome = await ConvertAsync(converter, topic, channel, time, data, raw);
            foreach (var record in outcome.Records)
            {
                await PublishRecordAsync(record.Type, record.Time, record.Data);
            }
        }

        var type = ConverterRecords.RawType(topic);
        var parts = Math.Max(1, (raw.Length + RawChunkBytes - 1) / RawChunkBytes);
        for (var part = 0; part < parts; part++)
        {
            var offset = part * RawChunkBytes;
            var chunk = raw.AsSpan(offset, Math.Min(RawChunkBytes, raw.Length - offset));
            await PublishRecordAsync(type, time, ConverterRecords.RawJson(topic, channel, chunk, part, parts, outcome));
        }
        IngestMetrics.ConverterFrames.Add(1, ProtocolTag, new KeyValuePair<string, object?>("result", outcome?.Result ?? "external"));
        await AnnounceToConverterAsync(topic, channel, time, data, raw, outcome);
    }

    /// <summary>Runs <paramref name="converter"/> on one frame within <see cref="IngestOptions.ConverterTimeout"/> and keeps the valid records.</summary>
    private async ValueTask<ConversionOutcome> ConvertAsync(IChannelConverter converter, string topic, string channel, DateTimeOffset time, string data, byte[] raw)
    {
        var input = new ConverterInput(DeviceId, Ident ?? "", channel, time, raw, data);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(Closing);
        deadline.CancelAfter(Options.ConverterTimeout);
        IReadOnlyList<ConvertedRecord>? records;
        try
        {
            var pending = converter.ConvertAsync(input, deadline.Token);
            records = pending.IsCompletedSuccessfully ? pending.Result : await pending.AsTask().WaitAsync(Options.ConverterTimeout, Closing);
        }
        catch (OperationCanceledException) when (IsClosing)
        {
            throw;
        }
        catch (ChannelConversionException e)
        {
            CountError("converter_input");
            Logger.LogDebug("Converter {Topic} refused a frame of {Channel}: {Reason}", topic, channel, e.Message);
            return ConversionOutcome.Failed("refused", e.Message);
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            CountError("converter_timeout");
            LogConverterFault(e, topic, "did not finish within " + Options.ConverterTimeout);
            return ConversionOutcome.Failed("timeout", $"No answer within {Options.ConverterTimeout}.");
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            CountError("converter_fault");
            LogConverterFault(e, topic, "failed");
            return ConversionOutcome.Failed("failed", $"{e.GetType().Name}: {e.Message}");
        }

        var accepted = new List<ConvertedRecord>();
        var rejected = 0;
        string? reason = null;
        foreach (var record in records ?? [])
        {
            var problem = accepted.Count >= MaxConvertedRecords ? $"more than {MaxConvertedRecords} records" : ConverterRecords.Check(record);
            if (problem is null)
            {
                accepted.Add(record);
            }
            else
            {
                rejected++;
                reason ??= problem;
            }
        }
        if (rejected > 0)
        {
            CountError("converter_rejected");
            Logger.LogDebug("Converter {Topic} returned {Rejected} invalid record(s): {Reason}", topic, rejected, reason);
        }
        return new ConversionOutcome(rejected == 0 ? accepted.Count == 0 ? "empty" : "converted" : "rejected", accepted, rejected, reason);
    }

    private void LogConverterFault(Exception e, string topic, string what)
    {
        // Once per connection at warning level: a converter failing on every frame must not flood the log.
        if (!_converterFaultLogged)
        {
            _converterFaultLogged = true;
            Logger.LogWarning(e, "Converter {Topic} {What}; the raw frames are stored (further failures on this connection are logged at debug level)", topic, what);
        }
        else
        {
            Logger.LogDebug(e, "Converter {Topic} {What}", topic, what);
        }
    }

    /// <summary>
    /// The frame on <c>converter.&lt;topic&gt;</c> as a <c>store_ts</c> message: <c>key</c>, <c>type</c> (the
    /// channel), <c>time</c> (unix ms), <c>data</c> (the JSON the record would have had), <c>payload_hex</c>,
    /// <c>device_id</c>, <c>connection_id</c>, and <c>converted</c> (records made in process) when a converter
    /// of this node handled it. A notification: the durable copy is the raw record, so a failure is only logged.
    /// </summary>
    private async ValueTask AnnounceToConverterAsync(string topic, string channel, DateTimeOffset time, string data, byte[] raw, ConversionOutcome? outcome)
    {
        try
        {
            var hex = new byte[Hex.GetEncodedLength(raw.Length)];
            Hex.Encode(raw, hex);
            var message = new BusMessage(Calls.StoreTs, Services.Node.Name, topic)
                .With("key", RecordId)
                .With("type", channel)
                .With("time", time.ToUnixTimeMilliseconds())
                .With("data", JsonNode.Parse(data))
                .With("payload_hex", Encoding.ASCII.GetString(hex))
                .With("device_id", DeviceId.ToString("D"))
                .With("connection_id", ConnectionId);
            if (outcome is not null)
            {
                message.With("converted", outcome.Records.Count);
            }
            await Services.Bus.PublishAsync(Topics.Converter(topic), message, Closing);
        }
        catch (OperationCanceledException) when (IsClosing)
        {
            throw;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Logger.LogWarning(e, "Could not announce a frame on {Subject} (its raw record is stored)", Topics.Converter(topic));
        }
    }
}

/// <summary>What the in-process converter made of one frame.</summary>
/// <param name="Result"><c>converted</c>, <c>empty</c> (no record, no error), <c>rejected</c> (some records invalid), <c>refused</c> (the converter did not understand the frame), <c>timeout</c> or <c>failed</c>.</param>
/// <param name="Records">The valid records, published.</param>
/// <param name="Rejected">Invalid records left out.</param>
/// <param name="Error">Why records were refused or the conversion failed.</param>
internal sealed record ConversionOutcome(string Result, IReadOnlyList<ConvertedRecord> Records, int Rejected, string? Error)
{
    public static ConversionOutcome Failed(string result, string error) => new(result, [], 0, error);
}

/// <summary>The raw records of translated channels and the checks of converted records.</summary>
internal static class ConverterRecords
{
    /// <summary>Prefix of the raw records' type: <c>_converter:&lt;topic&gt;</c>.</summary>
    public const string RawTypePrefix = "_converter:";

    private const int MaxErrorLength = 500;

    /// <summary><c>_converter:&lt;topic&gt;</c>, or <c>_converter</c> for a topic too long for a record type (the topic is in the data).</summary>
    public static string RawType(string topic)
    {
        var type = RawTypePrefix + topic;
        return Encoding.UTF8.GetByteCount(type) <= TimeSeriesLimits.MaxTypeBytes && !topic.Contains('\0', StringComparison.Ordinal) ? type : RawTypePrefix.TrimEnd(':');
    }

    /// <summary>
    /// <c>{"topic","channel","payload_hex"[,"part","parts"][,"result","converted","rejected","error"]}</c>: no
    /// connection id, so that a frame a device sends again (same time, same bytes) is stored once.
    /// </summary>
    public static string RawJson(string topic, string channel, ReadOnlySpan<byte> payload, int part, int parts, ConversionOutcome? outcome)
    {
        var buffer = new ArrayBufferWriter<byte>(256 + (payload.Length * 2));
        var hex = ArrayPool<byte>.Shared.Rent(Hex.GetEncodedLength(payload.Length));
        try
        {
            using var json = new Utf8JsonWriter(buffer);
            json.WriteStartObject();
            json.WriteString("topic", topic);
            json.WriteString("channel", channel);
            json.WriteString("payload_hex", hex.AsSpan(0, Hex.Encode(payload, hex)));
            if (parts > 1)
            {
                json.WriteNumber("part", part + 1);
                json.WriteNumber("parts", parts);
            }
            if (outcome is not null)
            {
                json.WriteString("result", outcome.Result);
                json.WriteNumber("converted", outcome.Records.Count);
                if (outcome.Rejected > 0)
                {
                    json.WriteNumber("rejected", outcome.Rejected);
                }
                if (outcome.Error is { } error)
                {
                    json.WriteString("error", error.Length > MaxErrorLength ? error[..MaxErrorLength] : error);
                }
            }
            json.WriteEndObject();
            json.Flush();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(hex);
        }
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>Why a converted record cannot be stored, or <c>null</c> when it can.</summary>
    public static string? Check(ConvertedRecord record)
    {
        if (string.IsNullOrEmpty(record.Type) || record.Type.Contains('\0', StringComparison.Ordinal) || Encoding.UTF8.GetByteCount(record.Type) > TimeSeriesLimits.MaxTypeBytes)
        {
            return "invalid type";
        }
        if (record.Type[0] == '_')
        {
            return $"type '{record.Type}' is reserved (starts with '_')";
        }
        if (record.Data is null || !DeviceText.FitsRecord(record.Data))
        {
            return "data missing or too large";
        }
        try
        {
            using var document = JsonDocument.Parse(record.Data, new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException)
        {
            return "data is not one JSON document";
        }
        return null;
    }
}
