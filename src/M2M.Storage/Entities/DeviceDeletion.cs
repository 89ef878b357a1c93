using System.Text.Json;
using System.Text.Json.Serialization;
using M2M.Storage.Registry;

namespace M2M.Storage.Entities;

/// <summary>Where a device deletion stands (<see cref="DeviceDeletion.State"/>).</summary>
public enum DeviceDeletionState
{
    /// <summary>Recorded: the device left its ident index and domain; its registry subtree is still to be removed.</summary>
    Registry,

    /// <summary>The registry part is done; the device's time series is being deleted in the background.</summary>
    Data,

    /// <summary>Finished.</summary>
    Done,
}

/// <summary>
/// The deletion journal entry of a device (<c>/device/.deletions/</c>, value named after the device id).
/// Written in the same atomic registry write that takes the device out of its ident index and its domain,
/// so that a deletion interrupted by a crash is finished from it (<see cref="IDeviceStore.PurgeAsync"/> again,
/// which the cleanup job does). While an entry exists the id is not given to a new device: a kept series
/// (<see cref="PurgeData"/> <c>false</c>) never becomes another device's history, and a purge in progress
/// never deletes a new device's records. Entries of purged devices are removed by the cleanup job once
/// finished for longer than its grace period; entries whose data was kept stay.
/// </summary>
/// <param name="Id">The deleted device's id (its series is <c>dev-&lt;id&gt;</c>).</param>
/// <param name="Ident">Its ident.</param>
/// <param name="DomainId">The domain it belonged to (who may see this entry).</param>
/// <param name="PurgeData">Whether its time series is deleted too.</param>
/// <param name="State">Where the deletion stands.</param>
/// <param name="RequestedAt">When the deletion was asked for.</param>
/// <param name="UpdatedAt">When the entry last changed (a worker writes it as it progresses; a stale entry is resumed).</param>
/// <param name="CompletedAt">When it finished.</param>
/// <param name="RecordsDeleted">Records of the series deleted so far.</param>
/// <param name="Error">The last error of the background work, if any (it is retried).</param>
public sealed record DeviceDeletion(
    Guid Id,
    string Ident,
    Guid DomainId,
    bool PurgeData,
    DeviceDeletionState State,
    DateTimeOffset RequestedAt,
    DateTimeOffset UpdatedAt,
    DateTimeOffset? CompletedAt = null,
    long RecordsDeleted = 0,
    string? Error = null);

/// <summary>Reads and writes the deletion journal (<see cref="EntityPaths.DeviceDeletions"/>).</summary>
public static class DeviceDeletionJournal
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    /// <summary>The entry of <paramref name="id"/>, or <c>null</c>.</summary>
    public static async ValueTask<DeviceDeletion?> ReadAsync(IRegistry registry, Guid id, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(registry);
        var text = await registry.GetValueAsync(EntityPaths.DeviceDeletions, id.ToString("D"), cancellationToken).ConfigureAwait(false);
        return text is null ? null : Parse(text);
    }

    /// <summary>Every entry, by device id.</summary>
    public static async ValueTask<IReadOnlyList<DeviceDeletion>> ListAsync(IRegistry registry, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(registry);
        var values = await registry.GetValuesAsync(EntityPaths.DeviceDeletions, cancellationToken).ConfigureAwait(false);
        var entries = new List<DeviceDeletion>(values.Count);
        foreach (var (_, text) in values.OrderBy(v => v.Key, StringComparer.Ordinal))
        {
            if (Parse(text) is { } entry)
            {
                entries.Add(entry);
            }
        }
        return entries;
    }

    /// <summary>Writes (replaces) an entry.</summary>
    public static ValueTask WriteAsync(IRegistry registry, DeviceDeletion deletion, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(deletion);
        return registry.SetValueAsync(EntityPaths.DeviceDeletions, deletion.Id.ToString("D"), Format(deletion), cancellationToken: cancellationToken);
    }

    /// <summary>Removes an entry (the id may then be given to a new device).</summary>
    public static ValueTask<bool> RemoveAsync(IRegistry registry, Guid id, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(registry);
        return registry.DeleteValueAsync(EntityPaths.DeviceDeletions, id.ToString("D"), cancellationToken);
    }

    internal static string Format(DeviceDeletion deletion) => JsonSerializer.Serialize(deletion, Json);

    private static DeviceDeletion? Parse(string text)
    {
        try
        {
            return JsonSerializer.Deserialize<DeviceDeletion>(text, Json);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
