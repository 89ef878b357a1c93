using System.Collections.Concurrent;
using System.Text;
using M2M.Messaging.Presence;
using Microsoft.Extensions.Logging;
using NATS.Client.Core;
using NATS.Client.KeyValueStore;

namespace M2M.Messaging.Nats;

/// <summary>
/// A copy in memory of the shared presence, for the questions asked of many devices at once (the
/// fleet's online column and sort on an API node): the device bucket is watched (it changes only when
/// devices connect, disconnect or move their last-seen time far enough), and the node leases are read
/// every <see cref="LeasePoll"/> (a lease that expires leaves no event to watch). Started on first
/// use, so a node that never asks (an ingest node) holds nothing. A lost watch starts again from a
/// fresh copy.
/// </summary>
public sealed partial class NatsConnectedDevices(NatsInfrastructure nats, ILogger<NatsConnectedDevices> logger) : IConnectedDevices, IAsyncDisposable
{
    /// <summary>How often the node leases are read.</summary>
    internal static readonly TimeSpan LeasePoll = TimeSpan.FromSeconds(1);

    private static readonly NatsRawSerializer<byte[]> Raw = NatsRawSerializer<byte[]>.Default;

    private readonly ConcurrentDictionary<Guid, (string Node, string Run)> _claims = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly TaskCompletionSource _claimsLoaded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _leasesLoaded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile IReadOnlyDictionary<string, string> _leases = new Dictionary<string, string>();
    private Task? _watch;
    private Task? _poll;
    private int _started;
    private int _disposed;

    /// <summary>Devices in the copy (live or not).</summary>
    internal int Count => _claims.Count;

    public async ValueTask WaitReadyAsync(CancellationToken cancellationToken = default)
    {
        Start();
        await Task.WhenAll(_claimsLoaded.Task, _leasesLoaded.Task).WaitAsync(cancellationToken);
    }

    public bool IsConnected(Guid deviceId)
    {
        Start();
        return _claims.TryGetValue(deviceId, out var claim) && _leases.TryGetValue(claim.Node, out var run) && run == claim.Run;
    }

    private void Start()
    {
        if (Volatile.Read(ref _started) == 0 && Interlocked.Exchange(ref _started, 1) == 0)
        {
            _watch = Task.Run(() => WatchClaimsAsync(_stopping.Token));
            _poll = Task.Run(() => PollLeasesAsync(_stopping.Token));
        }
    }

    private async Task WatchClaimsAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var store = await nats.GetPresenceAsync(cancellationToken);
                // A fresh copy: what changed while no watch ran is replayed as the current values.
                _claims.Clear();
                var options = new NatsKVWatchOpts
                {
                    OnNoData = _ =>
                    {
                        _claimsLoaded.TrySetResult();
                        return ValueTask.FromResult(false);
                    },
                };
                await foreach (var entry in store.WatchAsync(Raw, options, cancellationToken))
                {
                    Apply(entry);
                    if (entry.Delta == 0)
                    {
                        _claimsLoaded.TrySetResult();
                    }
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                LogWatchFailed(logger, e);
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    private void Apply(NatsKVEntry<byte[]> entry)
    {
        if (!Guid.TryParseExact(entry.Key, "N", out var deviceId))
        {
            return;
        }
        if (entry.Operation is NatsKVOperation.Del or NatsKVOperation.Purge || entry.Value is not { Length: > 0 } value
            || NatsPresenceStore.Decode(value) is not { } claim)
        {
            _claims.TryRemove(deviceId, out _);
            return;
        }
        _claims[deviceId] = (claim.Node, claim.Run);
    }

    private async Task PollLeasesAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var store = await nats.GetPresenceLeasesAsync(cancellationToken);
                var leases = new Dictionary<string, string>(StringComparer.Ordinal);
                var options = new NatsKVWatchOpts { OnNoData = _ => ValueTask.FromResult(true) };
                await foreach (var entry in store.WatchAsync(Raw, options, cancellationToken))
                {
                    if (entry.Operation == NatsKVOperation.Put && entry.Value is { Length: > 0 } run)
                    {
                        leases[entry.Key] = Encoding.UTF8.GetString(run);
                    }
                    if (entry.Delta == 0)
                    {
                        break;
                    }
                }
                _leases = leases;
                _leasesLoaded.TrySetResult();
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                LogWatchFailed(logger, e);
            }
            await Task.Delay(LeasePoll, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    public async ValueTask DisposeAsync()
    {
        // Registered as itself and as IConnectedDevices: the container may dispose it twice.
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        await _stopping.CancelAsync();
        foreach (var task in new[] { _watch, _poll })
        {
            if (task is not null)
            {
                await task.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
        _stopping.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Presence copy: watching the presence buckets failed; retrying")]
    private static partial void LogWatchFailed(ILogger logger, Exception exception);
}
