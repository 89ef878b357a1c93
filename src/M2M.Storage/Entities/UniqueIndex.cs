using M2M.Storage.Registry;

namespace M2M.Storage.Entities;

/// <summary>
/// Unique-name indexes (<c>/…/by-name/&lt;name&gt;/</c> → <c>id</c>). The index is claimed before the
/// entity is written; an index left pointing to an entity that does not exist (a crash between the
/// two steps, or a deleted entity) is dangling and may be claimed again.
/// </summary>
internal static class UniqueIndex
{
    /// <summary>Claims <paramref name="index"/> for <paramref name="id"/>; returns the live id holding it instead when it is taken.</summary>
    public static async ValueTask<Guid?> ClaimAsync(IRegistry registry, RegistryPath index, Guid id, Func<Guid, ValueTask<bool>> isLive, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            var current = await registry.GetValueAsync(index, EntityPaths.IndexId, cancellationToken).ConfigureAwait(false);
            if (current is not null && Guid.TryParse(current, out var holder) && holder != id && await isLive(holder).ConfigureAwait(false))
            {
                return holder;
            }
            if (await registry.CompareAndSetValueAsync(index, EntityPaths.IndexId, current, id.ToString("D"), cancellationToken).ConfigureAwait(false))
            {
                return null;
            }
            if (attempt > 10)
            {
                throw new InvalidOperationException($"The index '{index}' keeps changing.");
            }
        }
    }

    /// <summary>The id the index points to, or <c>null</c>.</summary>
    public static async ValueTask<Guid?> ReadAsync(IRegistry registry, RegistryPath index, CancellationToken cancellationToken)
        => await registry.GetGuidValueOrNullAsync(index, EntityPaths.IndexId, cancellationToken).ConfigureAwait(false);

    /// <summary>Removes the index when it still points to <paramref name="id"/>.</summary>
    public static async ValueTask ReleaseAsync(IRegistry registry, RegistryPath index, Guid id, CancellationToken cancellationToken)
    {
        if (await registry.CompareAndSetValueAsync(index, EntityPaths.IndexId, id.ToString("D"), null, cancellationToken).ConfigureAwait(false))
        {
            await registry.DeleteAsync(index, hard: true, cancellationToken).ConfigureAwait(false);
        }
    }

    private static async ValueTask<Guid?> GetGuidValueOrNullAsync(this IRegistry registry, RegistryPath path, string name, CancellationToken cancellationToken)
    {
        var text = await registry.GetValueAsync(path, name, cancellationToken).ConfigureAwait(false);
        return text is not null && Guid.TryParse(text, out var id) ? id : null;
    }
}
