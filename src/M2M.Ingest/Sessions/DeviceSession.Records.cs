using System.Diagnostics;
using M2M.Messaging;
using M2M.Storage.TimeSeries;
using Microsoft.Extensions.Logging;

namespace M2M.Ingest.Sessions;

internal abstract partial class DeviceSession
{
    // Bounds what a device that invents ever-new channels can make a session remember.
    private const int MaxRememberedTypes = 256;

    // Bounds the types a session tracks for new_data_type events; past it no more such events are sent.
    private const int MaxKnownTypes = 1024;

    // Created with the first translated channel looked up.
    private Dictionary<string, string?>? _translations;
    // Types the device has stored (loaded at identification) or sent on this connection; null: not tracked.
    private HashSet<string>? _knownTypes;
    private long _rateWindowStart;
    private int _rateWindowCount;

    /// <summary>A device-given unix time as a record time; counted and logged when suspiciously in the future.</summary>
    protected DateTimeOffset DeviceTime(long unixSeconds)
    {
        var time = DateTimeOffset.FromUnixTimeSeconds(Math.Clamp(unixSeconds, 0, 253402300799));
        if (time - Services.Time.GetUtcNow() > Options.FutureTolerance)
        {
            IngestMetrics.FutureRecords.Add(1, ProtocolTag);
            Logger.LogWarning("Suspicious record time {Time:o}: more than {Tolerance} in the future (stored anyway)", time, Options.FutureTolerance);
        }
        return time;
    }

    /// <summary>
    /// Hands a record of the identified device to the storage topic, in order. Waits (back-pressure)
    /// when the storage is saturated or the connection is over its records-per-second limit.
    /// </summary>
    /// <remarks>
    /// The record's time is exactly the device's time when it gave one, else the server's clock; nothing
    /// is added to tell records of one instant apart: storage keeps every record whose data differ and
    /// stores an identical record (a resend) once (<see cref="RecordIdentity"/>).
    /// </remarks>
    protected async ValueTask PublishRecordAsync(string type, DateTimeOffset? deviceTime, string data)
    {
        var time = deviceTime ?? Services.Time.GetUtcNow();
        if (Options.MaxRecordsPerSecond > 0)
        {
            await ThrottleAsync();
        }
        await _publisher.PublishAsync(new TimeSeriesRecord(RecordId, type, time, data), Closing);
        IngestMetrics.RecordsPublished.Add(1, ProtocolTag);
        if (_knownTypes is not null && _knownTypes.Count < MaxKnownTypes && _knownTypes.Add(type))
        {
            await PublishEventAsync(NewEvent(Calls.NewDataType).With("type", type));
        }
    }

    /// <summary>The types the device already has records of (its latest values), to tell a new type apart.</summary>
    private async ValueTask LoadKnownTypesAsync()
    {
        if (Services.TimeSeries is not { } series)
        {
            return;
        }
        var latest = await series.GetLatestAsync(RecordId, Closing);
        _knownTypes = new HashSet<string>(latest.Select(r => r.Type), StringComparer.Ordinal);
    }

    private async ValueTask ThrottleAsync()
    {
        var now = Environment.TickCount64;
        if (now - _rateWindowStart >= 1000)
        {
            _rateWindowStart = now;
            _rateWindowCount = 0;
        }
        if (++_rateWindowCount > Options.MaxRecordsPerSecond)
        {
            // Slow this connection only: stop reading it until the next second.
            IngestMetrics.ProtocolErrors.Add(1, ProtocolTag, new KeyValuePair<string, object?>("kind", "rate_limited"));
            await Task.Delay(TimeSpan.FromMilliseconds(Math.Max(1, 1000 - (now - _rateWindowStart))), Closing);
            _rateWindowStart = Environment.TickCount64;
            _rateWindowCount = 1;
        }
    }

    /// <summary>
    /// The delivery barrier: completes once every record this connection published is durable.
    /// <c>false</c> when storage did not confirm within <see cref="IngestOptions.BarrierTimeout"/>: the
    /// connection is then closed unanswered, and the device keeps its data.
    /// </summary>
    protected async ValueTask<bool> BarrierAsync()
    {
        var start = Stopwatch.GetTimestamp();
        using var activity = IngestTelemetry.Source.StartActivity("device barrier");
        var flush = _publisher.FlushAsync(Closing);
        if (!flush.IsCompletedSuccessfully)
        {
            try
            {
                await flush.AsTask().WaitAsync(Options.BarrierTimeout, Closing);
            }
            catch (TimeoutException)
            {
                IngestMetrics.ProtocolErrors.Add(1, ProtocolTag, new KeyValuePair<string, object?>("kind", "barrier_timeout"));
                Logger.LogError("Storage did not confirm the records within {Timeout}; closing without answering the barrier", Options.BarrierTimeout);
                await CloseAsync("storage timeout");
                return false;
            }
        }
        IngestMetrics.BarrierLatency.Record(ElapsedMs(start), ProtocolTag);
        return true;
    }

    /// <summary>
    /// The converter topic of <paramref name="channel"/> by the device's channel-translation rules
    /// (device rules, then the default device's), or <c>null</c>. Resolved once per channel per connection.
    /// </summary>
    protected async ValueTask<string?> GetTranslationAsync(string channel)
    {
        _translations ??= new(StringComparer.Ordinal);
        if (_translations.TryGetValue(channel, out var topic))
        {
            return topic;
        }
        topic = await Services.Devices.ResolveChannelTranslationAsync(DeviceId, channel, Closing);
        if (_translations.Count >= MaxRememberedTypes)
        {
            _translations.Clear();
        }
        _translations[channel] = topic;
        return topic;
    }
}
