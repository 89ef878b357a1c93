using System.Collections.Frozen;
using M2M.Storage.Forwarding;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace M2M.Forwarding;

/// <summary>
/// The endpoints as this node last read them: re-read every <see cref="ForwardingOptions.RefreshInterval"/>
/// and at once after <see cref="Invalidate"/> (the API calls it after each change it makes).
/// </summary>
public sealed class WebhookDirectory(IWebhookStore store, IOptions<ForwardingOptions> options, ILogger<WebhookDirectory> logger)
{
    private readonly SemaphoreSlim _reload = new(1, 1);
    private volatile Snapshot _current = Snapshot.Empty;
    private long _loadedAt = long.MinValue;
    private int _stale = 1;

    /// <summary>Raised after each reload (the dispatcher adjusts its workers).</summary>
    public event Action? Changed;

    /// <summary>The last snapshot read (empty before the first).</summary>
    public Snapshot Current => _current;

    /// <summary>Whether the store was read at least once.</summary>
    public bool Loaded => Volatile.Read(ref _loadedAt) != long.MinValue;

    /// <summary>Marks the snapshot stale: the next <see cref="GetAsync"/> re-reads the store.</summary>
    public void Invalidate() => Volatile.Write(ref _stale, 1);

    /// <summary>
    /// Re-reads the store now. The API awaits it after each change, so that the batch writer (which
    /// only reads <see cref="Current"/>, never the store) routes the very next commit accordingly.
    /// </summary>
    public ValueTask<Snapshot> RefreshAsync(CancellationToken cancellationToken = default)
    {
        Invalidate();
        return GetAsync(cancellationToken);
    }

    /// <summary>The snapshot, re-read when stale or older than the refresh interval.</summary>
    public async ValueTask<Snapshot> GetAsync(CancellationToken cancellationToken = default)
    {
        var age = Environment.TickCount64 - Volatile.Read(ref _loadedAt);
        if (Volatile.Read(ref _stale) == 0 && age < options.Value.RefreshInterval.TotalMilliseconds)
        {
            return _current;
        }
        await _reload.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            age = Environment.TickCount64 - Volatile.Read(ref _loadedAt);
            if (Volatile.Read(ref _stale) == 0 && age < options.Value.RefreshInterval.TotalMilliseconds)
            {
                return _current;
            }
            Volatile.Write(ref _stale, 0);
            try
            {
                _current = Snapshot.From(await store.ListAsync(cancellationToken).ConfigureAwait(false));
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // Keep forwarding with what was known; the next call tries again.
                logger.LogWarning(e, "Could not read the webhook endpoints");
                Volatile.Write(ref _stale, 1);
                return _current;
            }
            Volatile.Write(ref _loadedAt, Environment.TickCount64);
        }
        finally
        {
            _reload.Release();
        }
        Changed?.Invoke();
        return _current;
    }

    /// <summary>An immutable view of the endpoints.</summary>
    public sealed class Snapshot
    {
        public static readonly Snapshot Empty = From([]);

        private Snapshot(IReadOnlyList<Webhook> all, FrozenSet<Guid> recordDomains, FrozenSet<Guid> eventDomains)
        {
            All = all;
            RecordDomains = recordDomains;
            EventDomains = eventDomains;
        }

        public IReadOnlyList<Webhook> All { get; }

        /// <summary>Domains with an active endpoint taking records.</summary>
        public FrozenSet<Guid> RecordDomains { get; }

        /// <summary>Domains with an active endpoint taking events (lifecycle <c>_server</c> records and bus events).</summary>
        public FrozenSet<Guid> EventDomains { get; }

        public static Snapshot From(IReadOnlyList<Webhook> all) => new(
            all,
            all.Where(w => w.Enabled && w.Records).Select(w => w.DomainId).ToFrozenSet(),
            all.Where(w => w.Enabled && w.Events).Select(w => w.DomainId).ToFrozenSet());
    }
}
