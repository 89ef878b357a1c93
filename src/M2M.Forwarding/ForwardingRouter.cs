using M2M.Storage.Forwarding;
using M2M.Storage.TimeSeries;

namespace M2M.Forwarding;

/// <summary>
/// Which records of a commit enter the forwarding feed: those of devices whose domain has an active
/// endpoint taking them — records for endpoints taking records, lifecycle records (<c>_server</c>)
/// for endpoints taking records or events. Called by the batch writer's single loop only.
/// </summary>
public sealed class ForwardingRouter(WebhookDirectory webhooks, DeviceDirectory devices) : IFeedRouter
{
    /// <summary>Type of the lifecycle records (connected, identified, disconnected).</summary>
    public const string LifecycleType = "_server";

    private readonly Dictionary<Guid, FeedCodec.Builder> _builders = [];

    public async ValueTask<IReadOnlyList<FeedGroup>?> RouteAsync(IReadOnlyList<TimeSeriesRecord> records, CancellationToken cancellationToken = default)
    {
        // The snapshot as last read (by the dispatcher every RefreshInterval, by the API after each change):
        // the commit path itself never reads the endpoint list.
        // The first commit after a start waits for the first read, so nothing stored after a restart escapes.
        var snapshot = webhooks.Loaded ? webhooks.Current : await webhooks.GetAsync(cancellationToken).ConfigureAwait(false);
        if (snapshot.RecordDomains.Count == 0 && snapshot.EventDomains.Count == 0)
        {
            return null;
        }
        List<FeedGroup>? groups = null;
        try
        {
            string? lastId = null;
            Guid? domain = null;
            for (var i = 0; i < records.Count; i++)
            {
                var record = records[i];
                if (!ReferenceEquals(record.Id, lastId))
                {
                    lastId = record.Id;
                    var device = await devices.GetAsync(record.Id, cancellationToken).ConfigureAwait(false);
                    domain = device.Domain;
                }
                if (domain is not { } d)
                {
                    continue;
                }
                var wanted = snapshot.RecordDomains.Contains(d) || (record.Type == LifecycleType && snapshot.EventDomains.Contains(d));
                if (!wanted)
                {
                    continue;
                }
                if (!_builders.TryGetValue(d, out var builder))
                {
                    _builders[d] = builder = new FeedCodec.Builder();
                }
                builder.Add(FeedItemKind.Record, record);
            }
            foreach (var (d, builder) in _builders)
            {
                if (builder.Count > 0)
                {
                    (groups ??= []).Add(builder.ToGroup(d));
                }
            }
        }
        catch
        {
            // Builders may hold part of this batch: start over with new ones.
            _builders.Clear();
            throw;
        }
        if (_builders.Count > 64)
        {
            _builders.Clear();
        }
        return groups;
    }
}
