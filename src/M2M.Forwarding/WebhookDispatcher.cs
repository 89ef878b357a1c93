using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using M2M.Storage.Forwarding;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace M2M.Forwarding;

/// <summary>
/// Runs one <see cref="EndpointWorker"/> per active endpoint (each delivers its domain's feed in
/// order, one batch at a time, with its own back-off: a slow or dead endpoint delays only itself),
/// and trims the feed of what every endpoint of a domain has acknowledged.
/// </summary>
public sealed class WebhookDispatcher : BackgroundService
{
    private readonly IForwardingFeed _feed;
    private readonly IWebhookStore _store;
    private readonly WebhookDirectory _webhooks;
    private readonly WebhookDelivery _delivery;
    private readonly DeviceDirectory _devices;
    private readonly IOptions<ForwardingOptions> _options;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<Guid, EndpointWorker> _workers = new();
    private readonly SemaphoreSlim _changed = new(0, 1);

    public WebhookDispatcher(IForwardingFeed feed, IWebhookStore store, WebhookDirectory webhooks, WebhookDelivery delivery, DeviceDirectory devices, IOptions<ForwardingOptions> options, ILoggerFactory loggers)
    {
        _devices = devices;
        _feed = feed;
        _store = store;
        _webhooks = webhooks;
        _delivery = delivery;
        _options = options;
        _loggers = loggers;
        _logger = loggers.CreateLogger<WebhookDispatcher>();
        _webhooks.Changed += () =>
        {
            try
            {
                _changed.Release();
            }
            catch (SemaphoreFullException)
            {
                // A wake-up is already pending.
            }
        };
    }

    /// <summary>Backlog of each running endpoint, for the metrics.</summary>
    public IEnumerable<Measurement<long>> Backlogs()
    {
        foreach (var (id, worker) in _workers)
        {
            yield return new Measurement<long>(worker.Backlog, new KeyValuePair<string, object?>("endpoint", id.ToString("D")));
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var nextTrim = DateTime.UtcNow + _options.Value.TrimInterval;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var snapshot = await _webhooks.GetAsync(stoppingToken).ConfigureAwait(false);
                Reconcile(snapshot, stoppingToken);
                if (DateTime.UtcNow >= nextTrim)
                {
                    await TrimAsync(snapshot, stoppingToken).ConfigureAwait(false);
                    nextTrim = DateTime.UtcNow + _options.Value.TrimInterval;
                }
                await _changed.WaitAsync(_options.Value.RefreshInterval, stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            await Task.WhenAll(_workers.Values.Select(w => w.StopAsync())).ConfigureAwait(false);
            _workers.Clear();
        }
    }

    private void Reconcile(WebhookDirectory.Snapshot snapshot, CancellationToken stoppingToken)
    {
        var active = snapshot.All.Where(w => w.IsActive).ToDictionary(w => w.Id);
        foreach (var (id, worker) in _workers)
        {
            if (!active.TryGetValue(id, out var webhook) || webhook.DomainId != worker.Webhook.DomainId)
            {
                if (_workers.TryRemove(id, out _))
                {
                    _ = worker.StopAsync();
                }
            }
            else
            {
                worker.Update(webhook);
            }
        }
        foreach (var (id, webhook) in active)
        {
            if (!_workers.ContainsKey(id))
            {
                var worker = new EndpointWorker(webhook, _feed, _store, _delivery, _options.Value, _loggers.CreateLogger<EndpointWorker>(), _devices);
                _workers[id] = worker;
                worker.Start(stoppingToken);
            }
        }
    }

    /// <summary>Removes from each domain's feed the items every endpoint of the domain (active or paused) has acknowledged.</summary>
    private async Task TrimAsync(WebhookDirectory.Snapshot snapshot, CancellationToken cancellationToken)
    {
        try
        {
            foreach (var domain in await _feed.GetDomainsAsync(cancellationToken).ConfigureAwait(false))
            {
                var last = await _feed.GetLastSequenceAsync(domain, cancellationToken).ConfigureAwait(false);
                var upTo = last;
                foreach (var webhook in snapshot.All.Where(w => w.DomainId == domain))
                {
                    if (await _feed.GetCursorAsync(webhook.Id, cancellationToken).ConfigureAwait(false) is { } cursor)
                    {
                        upTo = Math.Min(upTo, cursor.Delivered);
                    }
                }
                await _feed.TrimAsync(domain, upTo, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _logger.LogWarning(e, "Trimming the forwarding feed failed; it is tried again later");
        }
    }
}
