namespace M2M.Ingest.Sessions;

internal sealed partial class AlipSession
{
    // Bounds what a device announcing ever-new sensor names makes the session remember.
    private const int MaxTrackedSensors = 256;

    // Listed sensors seen on this connection: the time written to the registry and the latest time seen.
    private Dictionary<string, (DateTimeOffset Written, DateTimeOffset Latest)>? _listedSensors;

    /// <summary>
    /// Marks the listed sensor <paramref name="name"/> (<c>LS:&lt;name&gt;</c>) in the registry once per
    /// connection: the first record writes its first and last seen times; later records only move
    /// the last seen time in memory, written when the connection ends. A registry write per record
    /// would put a synchronous, synced write on the read loop outside the records' group commit.
    /// </summary>
    private async ValueTask MarkListedSensorAsync(string name, DateTimeOffset time)
    {
        _listedSensors ??= new Dictionary<string, (DateTimeOffset, DateTimeOffset)>(StringComparer.Ordinal);
        if (_listedSensors.TryGetValue(name, out var seen))
        {
            if (time > seen.Latest)
            {
                _listedSensors[name] = (seen.Written, time);
            }
            return;
        }
        if (_listedSensors.Count >= MaxTrackedSensors)
        {
            await WriteListedSensorsSeenAsync(Closing);
            _listedSensors.Clear();
        }
        await Services.Devices.MarkListedSensorAsync(DeviceId, name, time, Closing);
        _listedSensors[name] = (time, time);
    }

    /// <summary>Writes the last seen times that moved since they were written.</summary>
    private async ValueTask WriteListedSensorsSeenAsync(CancellationToken cancellationToken)
    {
        if (_listedSensors is null)
        {
            return;
        }
        foreach (var (name, seen) in _listedSensors)
        {
            if (seen.Latest > seen.Written)
            {
                await Services.Devices.MarkListedSensorAsync(DeviceId, name, seen.Latest, cancellationToken);
            }
        }
    }

    protected override ValueTask OnEndAsync(CancellationToken cancellationToken) => WriteListedSensorsSeenAsync(cancellationToken);
}
