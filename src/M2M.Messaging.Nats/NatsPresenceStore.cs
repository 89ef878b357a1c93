using System.Text.Json;
using M2M.Messaging.Presence;
using NATS.Client.Core;
using NATS.Client.KeyValueStore;

namespace M2M.Messaging.Nats;

/// <summary>
/// Presence in a JetStream key-value bucket: one key per connected device (its id), whose value names
/// the node and connection holding it, and its last-seen time. Entries expire after
/// <see cref="NatsBusOptions.PresenceExpiry"/> unless refreshed, so the devices of a node that died
/// stop showing as connected by themselves. Refreshes and releases are conditional on the entry's
/// revision, so a node never overwrites or deletes a newer claim by another node.
/// </summary>
public sealed class NatsPresenceStore(NatsInfrastructure nats) : IPresenceStore
{
    private static readonly NatsRawSerializer<byte[]> Raw = NatsRawSerializer<byte[]>.Default;

    public async ValueTask<DevicePresence?> GetAsync(Guid deviceId, CancellationToken cancellationToken = default) =>
        (await ReadAsync(deviceId, cancellationToken)).Presence;

    public async ValueTask<DevicePresence?> ClaimAsync(DevicePresence presence, CancellationToken cancellationToken = default)
    {
        var (previous, _) = await ReadAsync(presence.DeviceId, cancellationToken);
        var store = await nats.GetPresenceAsync(cancellationToken);
        await store.PutAsync(Key(presence.DeviceId), Encode(presence), Raw, cancellationToken);
        return previous is not null && previous.ConnectionId != presence.ConnectionId ? previous : null;
    }

    public async ValueTask RefreshAsync(DevicePresence presence, CancellationToken cancellationToken = default)
    {
        var (current, revision) = await ReadAsync(presence.DeviceId, cancellationToken);
        var store = await nats.GetPresenceAsync(cancellationToken);
        if (current is null)
        {
            // The entry expired before this refresh came (a slow pass over many devices on a busy
            // machine): the device would show as disconnected while connected here, for good. The
            // node that holds it claims it again, unless another node claimed it since the read.
            await store.TryCreateAsync(Key(presence.DeviceId), Encode(presence), Raw, cancellationToken);
            return;
        }
        if (current.ConnectionId != presence.ConnectionId)
        {
            return;
        }
        // Fails (and is ignored) when another node claimed the device since the read.
        await store.TryUpdateAsync(Key(presence.DeviceId), Encode(presence), revision, Raw, cancellationToken);
    }

    public async ValueTask ReleaseAsync(Guid deviceId, string node, CancellationToken cancellationToken = default)
    {
        var (current, revision) = await ReadAsync(deviceId, cancellationToken);
        if (current is null || current.Node != node)
        {
            return;
        }
        var store = await nats.GetPresenceAsync(cancellationToken);
        await store.TryDeleteAsync(Key(deviceId), new NatsKVDeleteOpts { Revision = revision }, cancellationToken);
    }

    private async ValueTask<(DevicePresence? Presence, ulong Revision)> ReadAsync(Guid deviceId, CancellationToken cancellationToken)
    {
        var store = await nats.GetPresenceAsync(cancellationToken);
        var result = await store.TryGetEntryAsync(Key(deviceId), serializer: Raw, cancellationToken: cancellationToken);
        if (!result.Success || result.Value.Value is not { Length: > 0 } value)
        {
            return (null, 0);
        }
        return (Decode(deviceId, value), result.Value.Revision);
    }

    private static string Key(Guid deviceId) => deviceId.ToString("N");

    private static byte[] Encode(DevicePresence p) => JsonSerializer.SerializeToUtf8Bytes(
        new Entry(p.Node, p.ConnectionId, p.ConnectedAt, p.LastSeen), PresenceJson.Default.Entry);

    private static DevicePresence? Decode(Guid deviceId, byte[] value)
    {
        try
        {
            var e = JsonSerializer.Deserialize(value, PresenceJson.Default.Entry);
            return e is null || string.IsNullOrEmpty(e.Node) || string.IsNullOrEmpty(e.ConnectionId)
                ? null
                : new DevicePresence(deviceId, e.Node, e.ConnectionId, e.ConnectedAt, e.LastSeen);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    internal sealed record Entry(string Node, string ConnectionId, DateTimeOffset ConnectedAt, DateTimeOffset LastSeen);
}

[System.Text.Json.Serialization.JsonSerializable(typeof(NatsPresenceStore.Entry))]
[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.SnakeCaseLower)]
internal sealed partial class PresenceJson : System.Text.Json.Serialization.JsonSerializerContext;
