using M2M.Storage.Registry;

namespace M2M.Storage.Entities;

/// <summary>One upgrade step of an entity node, from version N to N+1. Must be idempotent (a crash may repeat it).</summary>
internal delegate ValueTask UpgradeStep(IRegistry registry, RegistryPath path, IReadOnlyDictionary<string, string> values, CancellationToken cancellationToken);

/// <summary>
/// Upgrade on read: an entity node carries <c>.version</c> (absent = 1). Loading a node older than the
/// code's version runs the steps in order, storing the new version after each one.
/// </summary>
internal static class EntityVersioning
{
    /// <summary>
    /// The values of the entity's node after any upgrade; <c>null</c> when the node is not created (or was
    /// deleted while being upgraded). The status and the values are one registry read.
    /// </summary>
    public static async ValueTask<IReadOnlyDictionary<string, string>?> LoadAsync(
        IRegistry registry, RegistryPath path, int currentVersion, IReadOnlyList<UpgradeStep> steps, CancellationToken cancellationToken)
    {
        if (await registry.GetValuesIfCreatedAsync(path, cancellationToken).ConfigureAwait(false) is not { } values)
        {
            return null;
        }
        var version = values.TryGetValue(EntityPaths.Version, out var text) ? RegistryValueExtensions.ParseInt64(text) ?? 1 : 1;
        // A newer version was written by newer code: read it as it is.
        try
        {
            for (; version < currentVersion; version++)
            {
                await steps[(int)version - 1](registry, path, values, cancellationToken).ConfigureAwait(false);
                await registry.SetValueAsync(path, EntityPaths.Version, RegistryValueExtensions.FormatInt64(version + 1), cancellationToken: cancellationToken).ConfigureAwait(false);
                values = await registry.GetValuesAsync(path, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (RegistryNodeNotFoundException)
        {
            // Deleted concurrently: writes below a soft-deleted node are refused, and the entity is gone.
            return null;
        }
        return values;
    }
}
