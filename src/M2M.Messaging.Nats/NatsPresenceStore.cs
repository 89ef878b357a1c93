using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using M2M.Messaging.Presence;
using NATS.Client.Core;
using NATS.Client.KeyValueStore;

namespace M2M.Messaging.Nats;

/// <summary>
/// Presence in two JetStream key-value buckets. The device bucket holds one key per connected device
/// (its id), whose value names the node, the node's run, the connection holding it and its last-seen
/// time; it is written when a device is claimed or released, and when its last-seen time has moved by
/// more than the node's <c>M2M:Ingest:PresenceLastSeenInterval</c>, not periodically. The lease bucket holds one key per ingest
/// node, whose value is the node's current run; it expires after <see cref="NatsBusOptions.PresenceExpiry"/>
/// unless the node renews it. A device entry is live only while its node's lease names the same run, so
/// the devices of a node that died stop showing as connected when its lease expires, and the claims of
/// an earlier run of a restarted node never show. Releases are conditional on the entry's revision, so a
/// node never deletes a newer claim by another node.
/// </summary>
public sealed class NatsPresenceStore(NatsInfrastructure nats) : IPresenceStore
{
    private static readonly NatsRawSerializer<byte[]> Raw = NatsRawSerializer<byte[]>.Default;

    /// <summary>How long a lease read stays cached here: a claim of a node that just died may show for this much longer.</summary>
    private static readonly TimeSpan LeaseCacheTime = TimeSpan.FromSeconds(1);

    /// <summary>This process's run: the value of the leases it takes.</summary>
    private readonly string _run = Guid.NewGuid().ToString("N");

    /// <summary>The nodes whose lease this process has taken (a claim takes it on first use).</summary>
    private readonly ConcurrentDictionary<string, byte> _leased = new(StringComparer.Ordinal);

    /// <summary>Lease reads: the run each node's lease names (<c>null</c>: none), and when it was read.</summary>
    private readonly ConcurrentDictionary<string, (string? Run, long ReadAt)> _leases = new(StringComparer.Ordinal);

    public async ValueTask<DevicePresence?> GetAsync(Guid deviceId, CancellationToken cancellationToken = default)
    {
        var (entry, revision) = await ReadAsync(deviceId, cancellationToken);
        if (entry is null)
        {
            return null;
        }
        if (await IsLiveAsync(entry, cancellationToken))
        {
            return entry.ToPresence(deviceId);
        }
        // Its node's run has ended: the entry is garbage. Deleted unless claimed again since the read.
        var store = await nats.GetPresenceAsync(cancellationToken);
        await store.TryDeleteAsync(Key(deviceId), new NatsKVDeleteOpts { Revision = revision }, cancellationToken);
        return null;
    }

    public async ValueTask<DevicePresence?> ClaimAsync(DevicePresence presence, CancellationToken cancellationToken = default)
    {
        if (!_leased.ContainsKey(presence.Node))
        {
            await RenewAsync(presence.Node, cancellationToken);
        }
        var (previous, _) = await ReadAsync(presence.DeviceId, cancellationToken);
        var store = await nats.GetPresenceAsync(cancellationToken);
        await store.PutAsync(Key(presence.DeviceId), Encode(Entry.Of(presence, _run)), Raw, cancellationToken);
        return previous is not null && previous.ConnectionId != presence.ConnectionId && await IsLiveAsync(previous, cancellationToken)
            ? previous.ToPresence(presence.DeviceId)
            : null;
    }

    public async ValueTask<bool> RenewAsync(string node, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(node);
        var leases = await nats.GetPresenceLeasesAsync(cancellationToken);
        var current = await leases.TryGetEntryAsync(node, serializer: Raw, cancellationToken: cancellationToken);
        var held = current.Success && current.Value.Value is { } value && Encoding.UTF8.GetString(value) == _run;
        var run = Encoding.UTF8.GetBytes(_run);
        // Fails when the lease expired or was taken between the read and the update: lapsed.
        if (!held || !(await leases.TryUpdateAsync(node, run, current.Value.Revision, Raw, cancellationToken)).Success)
        {
            held = false;
            await leases.PutAsync(node, run, Raw, cancellationToken);
        }
        _leased[node] = 0;
        _leases[node] = (_run, Stopwatch.GetTimestamp());
        return held;
    }

    public async ValueTask RefreshAsync(DevicePresence presence, CancellationToken cancellationToken = default)
    {
        var (current, revision) = await ReadAsync(presence.DeviceId, cancellationToken);
        if (current is null || current.ConnectionId != presence.ConnectionId || current.Node != presence.Node || current.Run != _run)
        {
            return;
        }
        var store = await nats.GetPresenceAsync(cancellationToken);
        // Fails (and is ignored) when another node claimed the device since the read.
        await store.TryUpdateAsync(Key(presence.DeviceId), Encode(Entry.Of(presence, _run)), revision, Raw, cancellationToken);
    }

    public async ValueTask ReleaseAsync(Guid deviceId, string node, CancellationToken cancellationToken = default)
    {
        var (current, revision) = await ReadAsync(deviceId, cancellationToken);
        if (current is null || current.Node != node || current.Run != _run)
        {
            return;
        }
        var store = await nats.GetPresenceAsync(cancellationToken);
        await store.TryDeleteAsync(Key(deviceId), new NatsKVDeleteOpts { Revision = revision }, cancellationToken);
    }

    /// <summary>Whether the entry's node still runs the run that made it (its lease names it).</summary>
    private async ValueTask<bool> IsLiveAsync(Entry entry, CancellationToken cancellationToken)
    {
        if (_leases.TryGetValue(entry.Node, out var cached) && Stopwatch.GetElapsedTime(cached.ReadAt) < LeaseCacheTime)
        {
            return cached.Run == entry.Run;
        }
        var leases = await nats.GetPresenceLeasesAsync(cancellationToken);
        var lease = await leases.TryGetEntryAsync(entry.Node, serializer: Raw, cancellationToken: cancellationToken);
        var run = lease.Success && lease.Value.Value is { Length: > 0 } value ? Encoding.UTF8.GetString(value) : null;
        _leases[entry.Node] = (run, Stopwatch.GetTimestamp());
        return run == entry.Run;
    }

    private async ValueTask<(Entry? Entry, ulong Revision)> ReadAsync(Guid deviceId, CancellationToken cancellationToken)
    {
        var store = await nats.GetPresenceAsync(cancellationToken);
        var result = await store.TryGetEntryAsync(Key(deviceId), serializer: Raw, cancellationToken: cancellationToken);
        if (!result.Success || result.Value.Value is not { Length: > 0 } value)
        {
            return (null, 0);
        }
        return (Decode(value), result.Value.Revision);
    }

    private static string Key(Guid deviceId) => deviceId.ToString("N");

    private static byte[] Encode(Entry entry) => JsonSerializer.SerializeToUtf8Bytes(entry, PresenceJson.Default.Entry);

    /// <summary>The entry, or <c>null</c> when it is not one of this version (an entry without a run is never live).</summary>
    internal static Entry? Decode(byte[] value)
    {
        try
        {
            var e = JsonSerializer.Deserialize(value, PresenceJson.Default.Entry);
            return e is null || string.IsNullOrEmpty(e.Node) || string.IsNullOrEmpty(e.ConnectionId) || string.IsNullOrEmpty(e.Run) ? null : e;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    internal sealed record Entry(string Node, string Run, string ConnectionId, DateTimeOffset ConnectedAt, DateTimeOffset LastSeen)
    {
        public static Entry Of(DevicePresence p, string run) => new(p.Node, run, p.ConnectionId, p.ConnectedAt, p.LastSeen);

        public DevicePresence ToPresence(Guid deviceId) => new(deviceId, Node, ConnectionId, ConnectedAt, LastSeen);
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(NatsPresenceStore.Entry))]
[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.SnakeCaseLower)]
internal sealed partial class PresenceJson : System.Text.Json.Serialization.JsonSerializerContext;
