using M2M.Storage.Registry;

namespace M2M.Storage.Entities;

/// <summary>
/// Unique-name indexes (<c>/…/by-name/&lt;name&gt;/</c> → <c>id</c>). The index is claimed in the same
/// conditional registry batch as the entity's own values (<see cref="IRegistry.TryWriteAsync"/>: written
/// only if the index did not change since it was read), so an index never points to an entity that was
/// not written, and of several processes claiming one name at once exactly one wins. An index left
/// pointing to an entity that no longer holds the name (a deleted entity) is dangling and may be
/// claimed again.
/// </summary>
internal static class UniqueIndex
{
    /// <summary>
    /// Claims <paramref name="index"/> for <paramref name="id"/> and applies <paramref name="writes"/> (the
    /// entity's values) with it, atomically; returns the live id holding the index instead when it is taken
    /// (nothing is written then).
    /// </summary>
    public static async ValueTask<Guid?> ClaimAsync(IRegistry registry, RegistryPath index, Guid id, Func<Guid, ValueTask<bool>> isLive, RegistryBatch writes, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            var current = await registry.GetValueAsync(index, EntityPaths.IndexId, cancellationToken).ConfigureAwait(false);
            if (current is not null && Guid.TryParse(current, out var holder) && holder != id && await isLive(holder).ConfigureAwait(false))
            {
                return holder;
            }
            var batch = new RegistryBatch()
                .Expect(index, EntityPaths.IndexId, current)
                .SetValue(index, EntityPaths.IndexId, id.ToString("D"));
            foreach (var op in writes.Operations)
            {
                if (op.Value is null)
                {
                    batch.DeleteValue(op.Path, op.Name);
                }
                else
                {
                    batch.SetValue(op.Path, op.Name, op.Value, op.TimeToLive);
                }
            }
            if (await registry.TryWriteAsync(batch, cancellationToken).ConfigureAwait(false))
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
