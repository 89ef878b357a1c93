using System.Text.Json;
using M2M.Ingest.Connections;
using M2M.Messaging;
using M2M.Storage.Entities;
using M2M.Storage.TimeSeries;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace M2M.Ingest.Sessions;

/// <summary>The outcome of an identification.</summary>
internal enum IdentifyResult
{
    Accepted,
    Refused,
    Invalid,
}

internal abstract partial class DeviceSession
{
    private Guid? _deviceId;
    private string? _ident;
    private DateTimeOffset? _identifiedAt;
    private IAsyncDisposable? _deviceSubscription;

    /// <summary>Whether the device has identified.</summary>
    protected bool IsIdentified => _deviceId is not null;

    /// <summary>The identified device (only valid when <see cref="IsIdentified"/>).</summary>
    protected Guid DeviceId => _deviceId ?? throw new InvalidOperationException("Not identified.");

    protected string? Ident => _ident;

    Guid? IRegisteredConnection.DeviceId => _deviceId;

    /// <summary>The series of the device's records: <c>dev-&lt;deviceId:D&gt;</c> (lowercase).</summary>
    protected string RecordId { get; private set; } = "";

    /// <summary>
    /// Resolves <paramref name="ident"/> in the registry and authenticates the connection as its
    /// device (<see cref="Authentication.DeviceAuthenticator"/>: the presented
    /// <paramref name="secret"/>, the TLS client certificate, the device's credentials and its
    /// domain's policy), creating the device when a policy allows it. On success the connection
    /// becomes the device's: it is findable by device id, receives the device's pushes, and the
    /// <c>_server</c> records and the <c>device_identified</c> event are published. The caller
    /// answers the device and then pushes what is pending.
    /// </summary>
    protected async ValueTask<IdentifyResult> IdentifyAsync(string ident, ReadOnlyMemory<byte>? secret = null)
    {
        Device? device;
        try
        {
            var attempt = new Authentication.IdentificationAttempt(
                ident,
                secret,
                _connection.Features.Get<ITlsConnectionFeature>()?.ClientCertificate,
                (_connection.RemoteEndPoint as System.Net.IPEndPoint)?.Address,
                Protocol);
            device = (await Services.Authenticator.IdentifyAsync(attempt, Closing)).Device;
        }
        catch (InvalidIdentException)
        {
            IngestMetrics.Identifications.Add(1, ProtocolTag, new KeyValuePair<string, object?>("result", "invalid"));
            return IdentifyResult.Invalid;
        }

        if (device is null)
        {
            // Counted and logged (ident and reason, never the secret) by the authenticator.
            IngestMetrics.Identifications.Add(1, ProtocolTag, new KeyValuePair<string, object?>("result", "refused"));
            return IdentifyResult.Refused;
        }

        if (device.Protocol != ProtocolName)
        {
            // What the API needs to refuse a command this device's protocol cannot carry.
            await Services.Devices.SetProtocolAsync(device.Id, ProtocolName, Closing);
        }

        _ident = device.Ident;
        _identifiedAt = Services.Time.GetUtcNow();
        RecordId = $"dev-{device.Id:D}";
        _deviceId = device.Id;
        Services.Registry.SetDevice(this, device.Id);
        _deviceSubscription = await Services.Pushes.SubscribeDeviceAsync(this, device.Id, Closing);
        IngestMetrics.Identifications.Add(1, ProtocolTag, new KeyValuePair<string, object?>("result", "accepted"));
        Logger.LogInformation("Identified as {Ident} ({DeviceId})", device.Ident, device.Id);

        await PublishServerRecordAsync(ServerRecord(Calls.DeviceConnected, ConnectedAt, null));
        await PublishServerRecordAsync(ServerRecord(Calls.DeviceIdentified, _identifiedAt.Value, null));
        await PublishEventAsync(Calls.DeviceIdentified, null);
        await LoadKnownTypesAsync();
        return IdentifyResult.Accepted;
    }

    /// <summary>
    /// A <c>_server</c> record: <c>{"type", "host", "source", "connection_id"[, "connection_duration"]}</c>
    /// (duration in seconds).
    /// </summary>
    private TimeSeriesRecord ServerRecord(string type, DateTimeOffset time, TimeSpan? duration)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(192);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("type", type);
            json.WriteString("host", Services.Node.Name);
            json.WriteString("source", RemoteAddress);
            json.WriteString("connection_id", ConnectionId);
            json.WriteString("protocol", Protocol == Connections.DeviceProtocol.M2mp ? "m2mp" : "alip");
            if (duration is { } d)
            {
                json.WriteNumber("connection_duration", Math.Round(d.TotalSeconds, 3));
            }
            json.WriteEndObject();
        }
        return new TimeSeriesRecord(RecordId, "_server", time, System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan));
    }

    private async ValueTask PublishServerRecordAsync(TimeSeriesRecord record)
    {
        await _publisher.PublishAsync(record, Closing);
        IngestMetrics.RecordsPublished.Add(1, ProtocolTag);
    }
}
