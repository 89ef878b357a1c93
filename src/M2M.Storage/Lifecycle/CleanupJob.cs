using System.Diagnostics;
using M2M.Storage.Registry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace M2M.Storage.Lifecycle;

/// <summary>
/// Cleanup of the registry: removes for real the nodes soft-deleted more than
/// <see cref="CleanupOptions.GracePeriod"/> ago (<see cref="IRegistry.CleanupAsync(DateTimeOffset, CancellationToken)"/>,
/// which also finishes interrupted real deletions and drops expired values), finishes device deletions
/// left half done (<see cref="DeviceDeletions.RunPendingAsync"/>) and forgets purged devices' journal
/// entries after the same grace period. One run at a time across every node (a lease in the registry).
/// </summary>
public sealed class CleanupJob
{
    /// <summary>Name of the job under <c>/.maintenance/</c>.</summary>
    public const string Name = "cleanup";

    private static readonly TimeSpan LeaseTime = TimeSpan.FromHours(1);

    private readonly IRegistry _registry;
    private readonly DeviceDeletions _deletions;
    private readonly CleanupOptions _options;
    private readonly MaintenanceMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly MaintenanceRunner _runner;

    public CleanupJob(IRegistry registry, DeviceDeletions deletions, CleanupOptions options, MaintenanceMetrics metrics,
        TimeProvider? timeProvider = null, ILogger<CleanupJob>? logger = null)
    {
        _registry = registry;
        _runner = new MaintenanceRunner(registry, Name, LeaseTime);
        _deletions = deletions;
        _options = options;
        _metrics = metrics;
        _time = timeProvider ?? TimeProvider.System;
        _logger = logger ?? NullLogger<CleanupJob>.Instance;
    }

    /// <summary>The settings the job runs with.</summary>
    public CleanupOptions Options => _options;

    /// <summary>Whether this process is running the job now.</summary>
    public bool IsRunning => _runner.IsRunning;

    /// <summary>The report of the last run (of any node), or <c>null</c> before the first.</summary>
    public ValueTask<CleanupReport?> GetLastRunAsync(CancellationToken cancellationToken = default)
        => MaintenanceState.ReadLastRunAsync<CleanupReport>(_registry, Name, cancellationToken);

    /// <summary>Runs the job now; <c>null</c> when another node holds the lease.</summary>
    public Task<CleanupReport?> RunAsync(string trigger, CancellationToken cancellationToken = default)
        => _runner.RunAsync(ct => RunLockedAsync(trigger, ct), cancellationToken);

    private async Task<CleanupReport> RunLockedAsync(string trigger, CancellationToken cancellationToken)
    {
        var started = _time.GetUtcNow();
        var watch = Stopwatch.StartNew();
        var deletedBefore = started - _options.GracePeriod;
        int removed = 0, repaired = 0, pruned = 0;
        string? error = null;
        try
        {
            removed = await _registry.CleanupAsync(deletedBefore, cancellationToken).ConfigureAwait(false);
            _metrics.NodesRemoved.Add(removed);
            repaired = await _deletions.RunPendingAsync(all: false, cancellationToken).ConfigureAwait(false);
            pruned = await _deletions.PruneAsync(deletedBefore, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            error = $"{e.GetType().Name}: {e.Message}";
            _logger.LogError(e, "Registry cleanup failed");
        }
        var report = new CleanupReport(trigger, started, _time.GetUtcNow(), Math.Round(watch.Elapsed.TotalSeconds, 3), _options.GracePeriod.TotalSeconds,
            deletedBefore, removed, repaired, pruned, error);
        _metrics.CleanupRuns.Add(1, new KeyValuePair<string, object?>("result", error is null ? "complete" : "failed"));
        _logger.LogInformation(
            "Registry cleanup ({Trigger}) {Result} in {Seconds:F1} s: {Removed} node(s) deleted before {Before:o} removed, {Repaired} device deletion(s) finished, {Pruned} journal entr(ies) forgotten",
            trigger, error is null ? "done" : "failed", report.DurationSeconds, removed, deletedBefore, repaired, pruned);
        return report;
    }
}

/// <summary>What one run of the cleanup job did.</summary>
/// <param name="Trigger">Why it ran: <c>start</c>, <c>schedule</c>, <c>api</c>…</param>
/// <param name="StartedAt">When it started.</param>
/// <param name="FinishedAt">When it finished.</param>
/// <param name="DurationSeconds">How long it took.</param>
/// <param name="GracePeriodSeconds">The grace period applied.</param>
/// <param name="DeletedBefore">Nodes soft-deleted before this time were removed.</param>
/// <param name="NodesRemoved">Soft-deleted nodes removed for real (each with its subtree).</param>
/// <param name="DeletionsFinished">Device deletions it finished (interrupted ones).</param>
/// <param name="JournalEntriesPruned">Journal entries of purged devices forgotten.</param>
/// <param name="Error">Why it failed, if it did.</param>
public sealed record CleanupReport(
    string Trigger,
    DateTimeOffset StartedAt,
    DateTimeOffset FinishedAt,
    double DurationSeconds,
    double GracePeriodSeconds,
    DateTimeOffset DeletedBefore,
    int NodesRemoved,
    int DeletionsFinished,
    int JournalEntriesPruned,
    string? Error);
