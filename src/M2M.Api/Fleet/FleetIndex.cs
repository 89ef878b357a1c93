using System.Collections.Concurrent;
using System.Threading.Channels;
using M2M.Api.Apis;
using M2M.Api.Live;
using M2M.Messaging;
using M2M.Storage.Entities;
using M2M.Storage.Registry;
using M2M.Storage.TimeSeries;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace M2M.Api.Fleet;

/// <summary>
/// An in-memory projection of every device (id, ident, display name, domain, last seen) so that the
/// fleet listing can search and sort 100,000 devices per request without reading the registry for
/// each of them (the registry's device listing reads every device node until a page is full).
/// </summary>
/// <remarks>
/// <para>How it stays consistent with the registry, which stays the truth:</para>
/// <list type="bullet">
/// <item>Loaded in the background at start (the first listing waits for it).</item>
/// <item>The API's own device writes (create, rename, move, delete, raw registry writes under
/// <c>/device/</c>) update it at once (<see cref="Upsert"/>, <see cref="Remove"/>, <see cref="Refresh"/>).</item>
/// <item>Devices created by the ingest (auto-registration) are learned from their
/// <c>device_identified</c> event; connection events move <c>lastSeen</c>.</item>
/// <item>Whatever else writes devices (another process, an import) is caught by a full reload every
/// <see cref="ApiOptions.FleetResyncInterval"/>, and at once for the devices of every page served:
/// <see cref="Verify"/> is given the store's current device and fixes or drops the entry, so a page
/// never shows a device outside the caller's domains even when the index is stale.</item>
/// </list>
/// <para>Sorted views by ident and by name are built once per change of the set (copy on write);
/// a query then scans one array: O(n) filter checks and no allocation per device.</para>
/// </remarks>
public sealed partial class FleetIndex : IHostedService, IDisposable
{
    private readonly IServiceProvider _services;
    private readonly IMessageBus _bus;
    private readonly ILogger<FleetIndex> _logger;
    private readonly TimeSpan _resync;
    private readonly ConcurrentDictionary<Guid, FleetEntry> _byId = new();
    private readonly TaskCompletionSource _loaded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Channel<Guid> _toRefresh = Channel.CreateBounded<Guid>(new BoundedChannelOptions(10_000) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _viewLock = new();
    private long _version;
    private Views? _views;
    private IDisposable? _subscription;
    private Task? _loop;
    private volatile bool _reloadRequested;
    private int _disposed;

    private static readonly IReadOnlySet<string> LocationTypes = new HashSet<string>([FleetApi.LocationType], StringComparer.Ordinal);
    private readonly LiveRecordHub _hub;
    private Task? _positions;

    public FleetIndex(IServiceProvider services, IMessageBus bus, LiveRecordHub hub, IOptions<ApiOptions> options, ILogger<FleetIndex> logger)
    {
        _services = services;
        _bus = bus;
        _hub = hub;
        _logger = logger;
        _resync = options.Value.FleetResyncInterval;
    }

    /// <summary>Devices in the index.</summary>
    public int Count => _byId.Count;

    /// <summary>Completes when the first load is done.</summary>
    public Task Loaded => _loaded.Task;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        // Subscribed before loading: a device identified during the load is not missed.
        _subscription = _bus.Subscribe(Topics.Events, OnEvent);
        _loop = Task.Run(() => RunAsync(_stopping.Token), CancellationToken.None);
        _positions = Task.Run(() => FollowPositionsAsync(_stopping.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _subscription?.Dispose();
        await _stopping.CancelAsync();
        foreach (var task in new[] { _loop, _positions })
        {
            if (task is not null)
            {
                await task.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    public void Dispose()
    {
        // Registered as a singleton and as a hosted service: the container may dispose it twice.
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _subscription?.Dispose();
        _stopping.Cancel();
        _stopping.Dispose();
    }

    /// <summary>Adds or replaces a device (after the API changed it).</summary>
    public void Upsert(Device device)
    {
        _byId.TryGetValue(device.Id, out var old);
        if (old is null || old.Ident != device.Ident || old.DisplayName != device.DisplayName || old.DomainId != device.DomainId)
        {
            _byId[device.Id] = new FleetEntry(device.Id, device.Ident, device.DisplayName, device.DomainId) { LastSeen = old?.LastSeen ?? 0, Position = old?.Position };
            Interlocked.Increment(ref _version);
        }
    }

    /// <summary>Forgets a device (after the API deleted it).</summary>
    public void Remove(Guid id)
    {
        if (_byId.TryRemove(id, out _))
        {
            Interlocked.Increment(ref _version);
        }
    }

    /// <summary>Re-reads a device from the store soon (its node was written by other means).</summary>
    public void Refresh(Guid id)
    {
        if (!_toRefresh.Writer.TryWrite(id))
        {
            _reloadRequested = true;
        }
    }

    /// <summary>Reloads every device soon (many may have changed).</summary>
    public void RequestReload() => _reloadRequested = true;

    /// <summary>Makes the entry of <paramref name="id"/> match the store's <paramref name="current"/> device (<c>null</c>: gone).</summary>
    public void Verify(Guid id, Device? current)
    {
        if (current is null)
        {
            Remove(id);
        }
        else
        {
            Upsert(current);
        }
    }

    /// <summary>Moves a device's last-seen time forward.</summary>
    public void Seen(Guid id, DateTimeOffset time)
    {
        if (_byId.TryGetValue(id, out var entry))
        {
            var ms = time.ToUnixTimeMilliseconds();
            long current;
            while ((current = Volatile.Read(ref entry.LastSeen)) < ms && Interlocked.CompareExchange(ref entry.LastSeen, ms, current) != current)
            {
            }
        }
    }

    /// <summary>Keeps a device's position if it is newer than the one known.</summary>
    public void Located(Guid id, FleetLocation location)
    {
        if (_byId.TryGetValue(id, out var entry))
        {
            FleetLocation? current;
            while (((current = Volatile.Read(ref entry.Position)) is null || current.Time < location.Time)
                && Interlocked.CompareExchange(ref entry.Position, location, current) != current)
            {
            }
        }
    }

    /// <summary>Follows the committed <c>sen:loc</c> records so that the map of the fleet is read from memory.</summary>
    private async Task FollowPositionsAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            var channel = Channel.CreateBounded<LiveItem>(new BoundedChannelOptions(50_000) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
            using var subscription = _hub.Subscribe(null, LocationTypes, channel.Writer);
            try
            {
                await foreach (var item in channel.Reader.ReadAllAsync(cancellationToken))
                {
                    if (item.Record is { } record && record.Id.StartsWith("dev-", StringComparison.Ordinal)
                        && Guid.TryParse(record.Id.AsSpan(4), out var id) && FleetLocation.TryParse(record.Time, record.Data) is { } location)
                    {
                        if (_byId.ContainsKey(id))
                        {
                            Located(id, location);
                            Seen(id, record.Time);
                        }
                        else
                        {
                            // A device not indexed yet (its identification event is still on its way): the
                            // record is committed, so reading the device in takes this position with it.
                            Refresh(id);
                        }
                    }
                }
            }
            catch (LiveStreamOverflowException)
            {
                // Positions were missed: read them again from the store.
                RequestReload();
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                break;
            }
        }
    }

    private ValueTask OnEvent(BusMessage message)
    {
        // Bus handlers must not wait: note what changed, the loop does the reading.
        if (!Guid.TryParse(message.GetString("device_id"), out var id))
        {
            return ValueTask.CompletedTask;
        }
        switch (message.Call)
        {
            case Calls.DeviceIdentified:
                if (!_byId.TryGetValue(id, out var entry) || entry.Ident != message.GetString("ident"))
                {
                    Refresh(id);
                }
                Seen(id, DateTimeOffset.FromUnixTimeSeconds(message.Time));
                break;
            case Calls.DeviceConnected or Calls.DeviceDisconnected:
                Seen(id, DateTimeOffset.FromUnixTimeSeconds(message.Time));
                break;
        }
        return ValueTask.CompletedTask;
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        var nextReload = DateTime.UtcNow;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                if (_reloadRequested || DateTime.UtcNow >= nextReload)
                {
                    _reloadRequested = false;
                    await ReloadAsync(cancellationToken);
                    nextReload = DateTime.UtcNow + _resync;
                }
                using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                wait.CancelAfter(TimeSpan.FromSeconds(1));
                try
                {
                    await _toRefresh.Reader.WaitToReadAsync(wait.Token);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    continue;
                }
                var devices = _services.GetRequiredService<IDeviceStore>();
                var series = _services.GetService<ITimeSeriesStore>();
                while (_toRefresh.Reader.TryRead(out var id))
                {
                    var known = _byId.ContainsKey(id);
                    var device = await devices.GetAsync(id, cancellationToken);
                    Verify(id, device);
                    if (!known && device is not null && series is not null)
                    {
                        // Learned from another node: its position and last records were stored before this node heard of it.
                        await LoadLatestAsync(series, id, cancellationToken);
                    }
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                LogLoadFailed(_logger, e);
                nextReload = DateTime.UtcNow + TimeSpan.FromSeconds(30);
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
        _loaded.TrySetCanceled(cancellationToken);
    }

    /// <summary>Reads every device node (and, for sorting by last seen, each device's newest record time).</summary>
    private async Task ReloadAsync(CancellationToken cancellationToken)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var registry = _services.GetRequiredService<IRegistry>();
        var devices = _services.GetRequiredService<IDeviceStore>();
        var series = _services.GetService<ITimeSeriesStore>();
        var children = await registry.GetChildrenAsync(RegistryPath.Parse("/device/"), cancellationToken: cancellationToken);
        var seen = new HashSet<Guid>();
        foreach (var child in children)
        {
            if (!Guid.TryParseExact(child, "D", out var id))
            {
                continue;
            }
            var device = await devices.GetAsync(id, cancellationToken);
            if (device is null)
            {
                continue;
            }
            seen.Add(id);
            Upsert(device);
            if (series is not null)
            {
                await LoadLatestAsync(series, id, cancellationToken);
            }
        }
        foreach (var id in _byId.Keys)
        {
            if (!seen.Contains(id) && await devices.GetAsync(id, cancellationToken) is null)
            {
                Remove(id);
            }
        }
        _loaded.TrySetResult();
        LogLoaded(_logger, _byId.Count, System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
    }

    /// <summary>Takes a device's last-seen time and position from its newest stored records.</summary>
    private async Task LoadLatestAsync(ITimeSeriesStore series, Guid id, CancellationToken cancellationToken)
    {
        foreach (var record in await series.GetLatestAsync(DeviceServices.SeriesId(id), cancellationToken))
        {
            Seen(id, record.Time);
            if (record.Type == FleetApi.LocationType && FleetLocation.TryParse(record.Time, record.Data) is { } location)
            {
                Located(id, location);
            }
        }
    }

    /// <summary>The entries sorted by ident and by name, rebuilt when the set changed.</summary>
    internal Views GetViews()
    {
        var version = Interlocked.Read(ref _version);
        var views = _views;
        if (views is not null && views.Version == version)
        {
            return views;
        }
        lock (_viewLock)
        {
            views = _views;
            if (views is not null && views.Version == version)
            {
                return views;
            }
            var all = _byId.Values.ToArray();
            var byIdent = (FleetEntry[])all.Clone();
            Array.Sort(byIdent, FleetComparers.Ident);
            var byName = all;
            Array.Sort(byName, FleetComparers.Name);
            views = new Views(version, byIdent, byName);
            _views = views;
            return views;
        }
    }

    /// <summary>A snapshot of the sorted entries.</summary>
    internal sealed record Views(long Version, FleetEntry[] ByIdent, FleetEntry[] ByName);

    [LoggerMessage(Level = LogLevel.Information, Message = "Fleet index loaded: {Count} devices in {Milliseconds:F0} ms")]
    private static partial void LogLoaded(ILogger logger, int count, double milliseconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Fleet index: loading failed; retrying")]
    private static partial void LogLoadFailed(ILogger logger, Exception exception);
}

/// <summary>One device in the <see cref="FleetIndex"/>. Identity fields never change (a change replaces the entry); <see cref="LastSeen"/> moves forward in place.</summary>
internal sealed class FleetEntry(Guid id, string ident, string? displayName, Guid domainId)
{
    public Guid Id { get; } = id;
    public string Ident { get; } = ident;
    public string? DisplayName { get; } = displayName;
    public Guid DomainId { get; } = domainId;

    /// <summary>Ident and display name in lower case, searched with an ordinal (vectorised) <c>Contains</c>.</summary>
    public string SearchText { get; } = (displayName is null ? ident : ident + "\u0001" + displayName).ToLowerInvariant();

    /// <summary>Unix milliseconds of the last activity known (0: never).</summary>
    public long LastSeen;

    /// <summary>The newest position known.</summary>
    public FleetLocation? Position;
}

/// <summary>Orders of the fleet listing; each ends with the id so that the order is total (cursors need it).</summary>
internal static class FleetComparers
{
    public static readonly Comparer<FleetEntry> Ident = Comparer<FleetEntry>.Create((a, b) => string.CompareOrdinal(a.Ident, b.Ident));

    public static readonly Comparer<FleetEntry> Name = Comparer<FleetEntry>.Create((a, b) =>
    {
        var c = string.Compare(a.DisplayName ?? "", b.DisplayName ?? "", StringComparison.OrdinalIgnoreCase);
        return c != 0 ? c : string.CompareOrdinal(a.Ident, b.Ident);
    });
}
