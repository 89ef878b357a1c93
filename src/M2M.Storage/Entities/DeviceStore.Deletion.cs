using M2M.Storage.Registry;

namespace M2M.Storage.Entities;

public sealed partial class DeviceStore
{
    private async ValueTask<bool> IsJournaledAsync(Guid id, CancellationToken cancellationToken)
        => await _registry.GetValueAsync(EntityPaths.DeviceDeletions, id.ToString("D"), cancellationToken).ConfigureAwait(false) is not null;

    public async ValueTask<DeviceDeletion?> PurgeAsync(Guid id, bool purgeData, CancellationToken cancellationToken = default)
    {
        var recorded = await DeviceDeletionJournal.ReadAsync(_registry, id, cancellationToken).ConfigureAwait(false);
        if (await GetAsync(id, cancellationToken).ConfigureAwait(false) is not { } device)
        {
            if (recorded is null)
            {
                return null;
            }
            if (recorded.State == DeviceDeletionState.Registry)
            {
                recorded = await FinishRegistryPartAsync(recorded, cancellationToken).ConfigureAwait(false);
            }
            else if (await _registry.GetStatusAsync(EntityPaths.Device(id), cancellationToken).ConfigureAwait(false) != RegistryNodeStatus.Undefined)
            {
                // A write of a session still connected at the moment of the deletion re-created part of the
                // subtree (without an ident, so it is no device): remove it again.
                await _registry.DeleteAsync(EntityPaths.Device(id), hard: true, cancellationToken).ConfigureAwait(false);
            }
            if (purgeData && !recorded.PurgeData)
            {
                // Deleted earlier with its data kept: now the data goes too.
                recorded = recorded with { PurgeData = true, State = DeviceDeletionState.Data, UpdatedAt = Now, CompletedAt = null, Error = null };
                await DeviceDeletionJournal.WriteAsync(_registry, recorded, cancellationToken).ConfigureAwait(false);
            }
            return recorded;
        }

        var now = Now;
        var deletion = new DeviceDeletion(id, device.Ident, device.DomainId, purgeData || (recorded?.PurgeData ?? false),
            DeviceDeletionState.Registry, recorded?.RequestedAt ?? now, now);
        var index = EntityPaths.DeviceByIdent(device.Ident);
        for (var attempt = 0; ; attempt++)
        {
            // Step 1, one atomic write conditional on the ident index being unchanged since it was read: the
            // device leaves its index (if it still holds it) and its domain, and the journal records it.
            var current = await _registry.GetValueAsync(index, EntityPaths.IndexId, cancellationToken).ConfigureAwait(false);
            var batch = new RegistryBatch().Expect(index, EntityPaths.IndexId, current);
            if (current == id.ToString("D"))
            {
                batch.DeleteValue(index, EntityPaths.IndexId);
            }
            if (device.DomainId != Guid.Empty)
            {
                batch.DeleteValue(DomainDevices(device.DomainId), id.ToString("D"));
            }
            batch.SetValue(EntityPaths.DeviceDeletions, id.ToString("D"), DeviceDeletionJournal.Format(deletion));
            if (await _registry.TryWriteAsync(batch, cancellationToken).ConfigureAwait(false))
            {
                break;
            }
            if (attempt > 10)
            {
                throw new InvalidOperationException($"The index '{index}' keeps changing.");
            }
        }
        return await FinishRegistryPartAsync(deletion, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Step 2 of <see cref="PurgeAsync"/>: the device's subtree and its empty index node go, the journal moves on.</summary>
    private async ValueTask<DeviceDeletion> FinishRegistryPartAsync(DeviceDeletion deletion, CancellationToken cancellationToken)
    {
        await _registry.DeleteAsync(EntityPaths.Device(deletion.Id), hard: true, cancellationToken).ConfigureAwait(false);
        var index = EntityPaths.DeviceByIdent(deletion.Ident);
        using (await _locks.AcquireAsync(deletion.Ident, cancellationToken).ConfigureAwait(false))
        {
            // Under the ident's creation lock: a device created meanwhile with this ident holds the index
            // again, and then the node stays.
            if (await _registry.GetStatusAsync(index, cancellationToken).ConfigureAwait(false) == RegistryNodeStatus.Created
                && await _registry.GetValueAsync(index, EntityPaths.IndexId, cancellationToken).ConfigureAwait(false) is null)
            {
                await _registry.DeleteAsync(index, hard: true, cancellationToken).ConfigureAwait(false);
            }
        }
        var now = Now;
        var next = deletion.PurgeData
            ? deletion with { State = DeviceDeletionState.Data, UpdatedAt = now }
            : deletion with { State = DeviceDeletionState.Done, UpdatedAt = now, CompletedAt = now };
        await DeviceDeletionJournal.WriteAsync(_registry, next, cancellationToken).ConfigureAwait(false);
        return next;
    }
}
