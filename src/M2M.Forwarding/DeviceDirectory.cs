using System.Collections.Concurrent;
using M2M.Storage.Entities;
using M2M.Storage.Registry;
using Microsoft.Extensions.Options;

namespace M2M.Forwarding;

/// <summary>
/// Domain and ident of devices by series id (<c>dev-&lt;uuid&gt;</c>), read from the registry and
/// cached for <see cref="ForwardingOptions.DeviceCacheLifetime"/>; bounded (the cache starts over past
/// <see cref="Capacity"/> entries).
/// </summary>
public sealed class DeviceDirectory(IRegistry registry, IOptions<ForwardingOptions> options)
{
    public const int Capacity = 200_000;
    private const string SeriesPrefix = "dev-";
    private static readonly string[] Names = ["domain", "ident"];

    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    /// <summary>A device's domain and ident (<c>Domain</c> is <c>null</c> for a series that is no device, or a device that is gone).</summary>
    public readonly record struct Entry(Guid DeviceId, Guid? Domain, string? Ident, long ExpiresAt);

    /// <summary>The series id of a device.</summary>
    public static string SeriesId(Guid deviceId) => $"{SeriesPrefix}{deviceId:D}";

    public ValueTask<Entry> GetAsync(string seriesId, CancellationToken cancellationToken = default)
    {
        if (_entries.TryGetValue(seriesId, out var entry) && entry.ExpiresAt > Environment.TickCount64)
        {
            return ValueTask.FromResult(entry);
        }
        return LoadAsync(seriesId, cancellationToken);
    }

    /// <summary>Forgets a device (its domain changed on this node).</summary>
    public void Forget(Guid deviceId) => _entries.TryRemove(SeriesId(deviceId), out _);

    private async ValueTask<Entry> LoadAsync(string seriesId, CancellationToken cancellationToken)
    {
        var expires = Environment.TickCount64 + (long)options.Value.DeviceCacheLifetime.TotalMilliseconds;
        Entry entry;
        if (!seriesId.StartsWith(SeriesPrefix, StringComparison.Ordinal) || !Guid.TryParseExact(seriesId.AsSpan(SeriesPrefix.Length), "D", out var id))
        {
            entry = new Entry(Guid.Empty, null, null, expires);
        }
        else
        {
            var path = EntityPaths.Device(id);
            var values = await registry.GetValuesAsync(path, Names, cancellationToken).ConfigureAwait(false);
            var created = values.Count > 0 && await registry.GetStatusAsync(path, cancellationToken).ConfigureAwait(false) == RegistryNodeStatus.Created;
            Guid? domain = created && values.TryGetValue("domain", out var text) && Guid.TryParse(text, out var d) ? d : null;
            entry = new Entry(id, domain, values.GetValueOrDefault("ident"), expires);
        }
        if (_entries.Count >= Capacity)
        {
            _entries.Clear();
        }
        _entries[seriesId] = entry;
        return entry;
    }
}
