using System.Buffers;
using M2M.Storage.Forwarding;
using Microsoft.Extensions.Logging;

namespace M2M.Forwarding;

/// <summary>
/// Delivers one endpoint's share of its domain's feed, in order, one batch at a time:
/// <list type="number">
/// <item>read the items after the cursor (at most <see cref="ForwardingOptions.MaxBatchItems"/> and about <see cref="ForwardingOptions.MaxBatchBytes"/>);</item>
/// <item>store the batch's last sequence in the cursor (<see cref="FeedCursor.InFlightEnd"/>) before the first attempt,
/// so that after a restart the same items go out under the same delivery id <c>&lt;endpoint&gt;-&lt;first&gt;-&lt;last&gt;</c>;</item>
/// <item>post it until the receiver answers 2xx, waiting between attempts with exponential back-off (with jitter);</item>
/// <item>move the cursor past the batch (durably), then go on.</item>
/// </list>
/// The cursor only moves after a 2xx, so everything is delivered at least once, through receiver
/// outages and restarts. Memory: one batch.
/// </summary>
public sealed class EndpointWorker
{
    /// <summary>Largest batch read back for an in-flight range (a lower <see cref="ForwardingOptions.MaxBatchItems"/> since it was written does not split it).</summary>
    private const int MaxInFlightItems = 10_000;

    private readonly IForwardingFeed _feed;
    private readonly IWebhookStore _store;
    private readonly WebhookDelivery _delivery;
    private readonly ForwardingOptions _options;
    private readonly DeviceDirectory? _devices;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _wake = new(0, 1);
    private volatile Webhook _webhook;
    private Task _loop = Task.CompletedTask;
    private long _backlog;
    private WebhookStatus _status;
    private long _statusWrittenAt = long.MinValue;

    public EndpointWorker(Webhook webhook, IForwardingFeed feed, IWebhookStore store, WebhookDelivery delivery, ForwardingOptions options, ILogger<EndpointWorker> logger, DeviceDirectory? devices = null)
    {
        _webhook = webhook;
        _feed = feed;
        _store = store;
        _delivery = delivery;
        _options = options;
        _devices = devices;
        _logger = logger;
        _status = webhook.Status with { Attempts = 0 };
    }

    public Webhook Webhook => _webhook;

    /// <summary>Items of the domain's feed this endpoint has not acknowledged (as of its last look).</summary>
    public long Backlog => Volatile.Read(ref _backlog);

    /// <summary>New settings (URL, kinds, secret generation); a waiting retry is cut short.</summary>
    public void Update(Webhook webhook)
    {
        var old = _webhook;
        _webhook = webhook;
        if (old.Url != webhook.Url || old.SecretGeneration != webhook.SecretGeneration || old.Records != webhook.Records || old.Events != webhook.Events)
        {
            Wake();
        }
    }

    public void Start(CancellationToken stoppingToken)
    {
        var linked = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, _stop.Token);
        _loop = Task.Run(() => RunAsync(linked.Token));
    }

    public async Task StopAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void Wake()
    {
        try
        {
            _wake.Release();
        }
        catch (SemaphoreFullException)
        {
        }
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        var body = new ArrayBufferWriter<byte>(64 * 1024);
        var attempts = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var webhook = _webhook;
                var cursor = await _feed.GetCursorAsync(webhook.Id, cancellationToken).ConfigureAwait(false)
                    ?? await StartCursorAsync(webhook, cancellationToken).ConfigureAwait(false);
                var last = await _feed.GetLastSequenceAsync(webhook.DomainId, cancellationToken).ConfigureAwait(false);
                Volatile.Write(ref _backlog, Math.Max(0, last - cursor.Delivered));

                var inFlight = cursor.InFlightEnd > cursor.Delivered;
                var want = inFlight ? (int)Math.Min(cursor.InFlightEnd - cursor.Delivered, MaxInFlightItems) : _options.MaxBatchItems;
                var items = await _feed.ReadAsync(webhook.DomainId, cursor.Delivered, want, cancellationToken).ConfigureAwait(false);
                if (items.Count == 0)
                {
                    if (inFlight)
                    {
                        // The in-flight items are gone (trimmed by a foreign cursor state): nothing left to send for them.
                        await _feed.SetCursorAsync(webhook.Id, new FeedCursor(cursor.InFlightEnd, cursor.InFlightEnd), cancellationToken).ConfigureAwait(false);
                        continue;
                    }
                    await _wake.WaitAsync(_options.PollInterval, cancellationToken).ConfigureAwait(false);
                    continue;
                }

                // The batch: the items of the in-flight range, or as many new ones as fit.
                var selected = new List<(FeedItem, string?)>(items.Count);
                long batchLast = cursor.Delivered;
                long bytes = 0;
                foreach (var item in items)
                {
                    if (inFlight ? item.Sequence > cursor.InFlightEnd : bytes >= _options.MaxBatchBytes)
                    {
                        break;
                    }
                    batchLast = item.Sequence;
                    if (Wanted(webhook, item))
                    {
                        string? ident = null;
                        if (_devices is not null)
                        {
                            ident = (await _devices.GetAsync(item.Item.Id, cancellationToken).ConfigureAwait(false)).Ident;
                        }
                        selected.Add((item, ident));
                        bytes += item.Item.Data.Length + item.Item.Id.Length + 100;
                    }
                }
                var first = cursor.Delivered + 1;
                if (!inFlight || batchLast != cursor.InFlightEnd)
                {
                    await _feed.SetCursorAsync(webhook.Id, new FeedCursor(cursor.Delivered, batchLast), cancellationToken).ConfigureAwait(false);
                }
                if (selected.Count > 0)
                {
                    var deliveryId = $"{webhook.Id:N}-{first}-{batchLast}";
                    body.ResetWrittenCount();
                    WebhookDelivery.WriteBody(body, deliveryId, webhook, first, batchLast, selected);
                    attempts = await DeliverAsync(webhook, deliveryId, body.WrittenMemory, selected.Count, attempts, cancellationToken).ConfigureAwait(false);
                }
                await _feed.SetCursorAsync(webhook.Id, new FeedCursor(batchLast, batchLast), cancellationToken).ConfigureAwait(false);
                Volatile.Write(ref _backlog, Math.Max(0, last - batchLast));
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                // Storage trouble: log, wait, try again (the cursor did not move).
                _logger.LogError(e, "Forwarding to webhook {Endpoint} failed; retrying", _webhook.Id);
                await DelayAsync(_options.MaxRetryDelay / 10, cancellationToken).ConfigureAwait(false);
            }
        }
        await WriteStatusAsync(force: true, CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>Posts until a 2xx (returns 0 attempts pending) or cancellation.</summary>
    private async Task<int> DeliverAsync(Webhook webhook, string deliveryId, ReadOnlyMemory<byte> body, int count, int attempts, CancellationToken cancellationToken)
    {
        while (true)
        {
            webhook = _webhook;
            var outcome = await _delivery.PostAsync(webhook, deliveryId, body, cancellationToken).ConfigureAwait(false);
            if (!Thread.CurrentThread.IsThreadPoolThread)
            {
                // Continued by a socket event thread (the runtime's inline completions, M2M:Api:InlineRequests):
                // the status write below must not hold up that thread's other sockets.
                await Task.Yield();
            }
            var now = DateTimeOffset.UtcNow;
            if (outcome.Success)
            {
                _delivery.CountDelivered(count);
                _status = _status with { LastSuccessAt = now, Attempts = 0, Delivered = _status.Delivered + count };
                await WriteStatusAsync(force: attempts > 0, cancellationToken).ConfigureAwait(false);
                return 0;
            }
            attempts++;
            _status = _status with { LastErrorAt = now, LastError = outcome.Error, Attempts = attempts };
            await WriteStatusAsync(force: true, cancellationToken).ConfigureAwait(false);
            var delay = RetryDelay(attempts);
            _logger.LogWarning("Delivery {Delivery} to webhook {Endpoint} failed ({Error}); attempt {Attempt}, next in {Delay}", deliveryId, webhook.Id, outcome.Error, attempts, delay);
            await DelayAsync(delay, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>min · 2^(attempts−1), capped at max, minus up to 20 % jitter.</summary>
    internal TimeSpan RetryDelay(int attempts)
    {
        var factor = Math.Pow(2, Math.Min(attempts - 1, 30));
        var delay = Math.Min(_options.MinRetryDelay.TotalMilliseconds * factor, _options.MaxRetryDelay.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(delay * (1 - (Random.Shared.NextDouble() * 0.2)));
    }

    private async Task DelayAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        // A settings change (Wake) cuts the wait short.
        await _wake.WaitAsync(delay, cancellationToken).ConfigureAwait(false);
    }

    private async Task<FeedCursor> StartCursorAsync(Webhook webhook, CancellationToken cancellationToken)
    {
        // A new endpoint starts with what is appended from now on.
        var last = await _feed.GetLastSequenceAsync(webhook.DomainId, cancellationToken).ConfigureAwait(false);
        var cursor = new FeedCursor(last, last);
        await _feed.SetCursorAsync(webhook.Id, cursor, cancellationToken).ConfigureAwait(false);
        return cursor;
    }

    private static bool Wanted(Webhook webhook, FeedItem item)
        => item.Kind == FeedItemKind.Event || item.Item.Type == ForwardingRouter.LifecycleType ? webhook.Events : webhook.Records;

    /// <summary>Writes the status to the store: always when <paramref name="force"/>, else at most once a second.</summary>
    private async Task WriteStatusAsync(bool force, CancellationToken cancellationToken)
    {
        var now = Environment.TickCount64;
        if (!force && now - _statusWrittenAt < 1000)
        {
            return;
        }
        _statusWrittenAt = now;
        try
        {
            await _store.SetStatusAsync(_webhook.Id, _status, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _logger.LogWarning(e, "Could not store the status of webhook {Endpoint}", _webhook.Id);
        }
    }
}
