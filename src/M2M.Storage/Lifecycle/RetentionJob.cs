using System.Diagnostics;
using M2M.Storage.Entities;
using M2M.Storage.Registry;
using M2M.Storage.TimeSeries;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace M2M.Storage.Lifecycle;

/// <summary>
/// Retention of time series. The global limit (<see cref="RetentionOptions.Months"/>) drops whole months
/// (<see cref="ITimeSeriesStore.DropMonthAsync"/>: a range delete, whatever the number of devices). A
/// domain with a shorter retention of its own (<see cref="Domain.RetentionMonths"/>) cannot drop months
/// that other domains keep, so its devices' series are cut month by month
/// (<see cref="ITimeSeriesStore.ExpireRangeAsync"/>, one call per device and month), with a watermark per
/// domain (the newest month it has cleared) so that each (device, month) is visited once, and at most
/// <see cref="RetentionOptions.MaxSeriesPerRun"/> of them per run (the next run resumes from a cursor).
/// Latest values are never touched. One run at a time across every node (a lease in the registry).
/// </summary>
public sealed class RetentionJob
{
    /// <summary>Name of the job under <c>/.maintenance/</c>.</summary>
    public const string Name = "retention";

    private const string ClearedValue = ".retention_cleared";
    private const string CursorValue = ".retention_cursor";
    private static readonly TimeSpan LeaseTime = TimeSpan.FromHours(1);

    private readonly ITimeSeriesStore _series;
    private readonly IDomainStore _domains;
    private readonly IRegistry _registry;
    private readonly RetentionOptions _options;
    private readonly TimeProvider _time;
    private readonly MaintenanceMetrics _metrics;
    private readonly ILogger _logger;
    private readonly MaintenanceRunner _runner;

    public RetentionJob(ITimeSeriesStore series, IDomainStore domains, IRegistry registry, RetentionOptions options, MaintenanceMetrics metrics,
        TimeProvider? timeProvider = null, ILogger<RetentionJob>? logger = null)
    {
        _series = series;
        _domains = domains;
        _registry = registry;
        _runner = new MaintenanceRunner(registry, Name, LeaseTime);
        _options = options;
        _metrics = metrics;
        _time = timeProvider ?? TimeProvider.System;
        _logger = logger ?? NullLogger<RetentionJob>.Instance;
    }

    /// <summary>The settings the job runs with.</summary>
    public RetentionOptions Options => _options;

    /// <summary>Whether this process is running the job now.</summary>
    public bool IsRunning => _runner.IsRunning;

    /// <summary>The report of the last run (of any node), or <c>null</c> before the first.</summary>
    public ValueTask<RetentionReport?> GetLastRunAsync(CancellationToken cancellationToken = default)
        => MaintenanceState.ReadLastRunAsync<RetentionReport>(_registry, Name, cancellationToken);

    /// <summary>Who runs the job now (the lease holder, any node), or <c>null</c>.</summary>
    public ValueTask<string?> GetHolderAsync(CancellationToken cancellationToken = default)
        => MaintenanceState.HolderAsync(_registry, Name, cancellationToken);

    /// <summary>
    /// Runs the job now (after a run of this process in progress). <c>null</c> when another node holds the
    /// lease (it is running the job). A failure is logged, counted and reported (<see cref="RetentionReport.Error"/>).
    /// </summary>
    public async Task<RetentionReport?> RunAsync(string trigger, CancellationToken cancellationToken = default)
    {
        var report = await _runner.RunAsync(ct => RunLockedAsync(trigger, ct), cancellationToken).ConfigureAwait(false);
        if (report is null)
        {
            _logger.LogInformation("Retention not run: another node holds the lease ({Holder})",
                await GetHolderAsync(cancellationToken).ConfigureAwait(false));
        }
        return report;
    }

    private async Task<RetentionReport> RunLockedAsync(string trigger, CancellationToken cancellationToken)
    {
        var started = _time.GetUtcNow();
        var watch = Stopwatch.StartNew();
        var dropped = new List<string>();
        var domainReports = new List<DomainRetentionReport>();
        var complete = true;
        string? error = null;
        var budget = Math.Max(1, _options.MaxSeriesPerRun);
        long expired = 0;
        var visited = 0;
        try
        {
            var months = (await _series.GetMonthsAsync(cancellationToken).ConfigureAwait(false)).Order().ToList();

            // 1. The global limit: whole months, oldest first.
            if (_options.Months is { } global)
            {
                foreach (var month in months.Where(m => RetentionPeriods.IsExpired(m, global, started)).ToList())
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    await _series.DropMonthAsync(month, cancellationToken).ConfigureAwait(false);
                    months.Remove(month);
                    dropped.Add(RetentionPeriods.Format(month));
                    _metrics.MonthsDropped.Add(1);
                    _logger.LogInformation("Retention: dropped month {Month} (global retention {Months} months)", RetentionPeriods.Format(month), global);
                }
            }

            // 2. Domains that keep less than the global limit: their devices' series, month by month.
            foreach (var domain in await _domains.ListAsync(cancellationToken).ConfigureAwait(false))
            {
                if (domain.RetentionMonths is not { } own || (_options.Months is { } g && own >= g))
                {
                    continue;
                }
                if (budget == 0)
                {
                    complete = false;
                    break;
                }
                var result = await ClearDomainAsync(domain, own, months, started, budget, cancellationToken).ConfigureAwait(false);
                budget -= result.Report.SeriesVisited;
                visited += result.Report.SeriesVisited;
                expired += result.Report.RecordsExpired;
                complete &= result.Complete;
                if (result.Report.SeriesVisited > 0 || result.Report.ClearedThrough is not null)
                {
                    domainReports.Add(result.Report);
                }
            }
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            error = $"{e.GetType().Name}: {e.Message}";
            complete = false;
            _logger.LogError(e, "Retention run failed");
        }
        var report = new RetentionReport(trigger, started, _time.GetUtcNow(), Math.Round(watch.Elapsed.TotalSeconds, 3), complete,
            _options.Months, dropped, expired, visited, domainReports, error);
        _metrics.RetentionRuns.Add(1, new KeyValuePair<string, object?>("result", error is not null ? "failed" : complete ? "complete" : "partial"));
        _logger.LogInformation(
            "Retention run ({Trigger}) {Result} in {Seconds:F1} s: {Dropped} month(s) dropped, {Records} record(s) expired in {Series} (device, month) pair(s) of {Domains} domain(s)",
            trigger, error is not null ? "failed" : complete ? "complete" : "partial", report.DurationSeconds, dropped.Count, expired, visited, domainReports.Count);
        return report;
    }

    private async Task<(DomainRetentionReport Report, bool Complete)> ClearDomainAsync(
        Domain domain, int months, IReadOnlyList<DateOnly> existing, DateTimeOffset now, int budget, CancellationToken cancellationToken)
    {
        var node = EntityPaths.Domain(domain.Id);
        var state = await _registry.GetValuesAsync(node, [ClearedValue, CursorValue], cancellationToken).ConfigureAwait(false);
        var cleared = RetentionPeriods.Parse(state.GetValueOrDefault(ClearedValue));
        var (cursorMonth, cursorDevice) = ParseCursor(state.GetValueOrDefault(CursorValue));
        var toClear = existing.Where(m => RetentionPeriods.IsExpired(m, months, now) && (cleared is null || m > cleared)).ToList();
        long expired = 0;
        var visited = 0;
        string? through = null;
        if (toClear.Count == 0)
        {
            return (new DomainRetentionReport(domain.Id, domain.Name, months, null, 0, 0), true);
        }
        var devices = await _domains.GetDeviceIdsAsync(domain.Id, cancellationToken).ConfigureAwait(false);
        foreach (var month in toClear)
        {
            var from = RetentionPeriods.Start(month);
            var to = RetentionPeriods.End(month);
            foreach (var device in devices)
            {
                if (cursorMonth == month && cursorDevice is { } after && string.CompareOrdinal(device.ToString("D"), after.ToString("D")) <= 0)
                {
                    // Done by an earlier run that stopped inside this month (the ids come sorted by their text).
                    continue;
                }
                if (visited == budget)
                {
                    await _registry.SetValueAsync(node, CursorValue, FormatCursor(month, PreviousOf(devices, device)), cancellationToken: CancellationToken.None).ConfigureAwait(false);
                    _logger.LogInformation("Retention of domain {Domain}: stopped in {Month} after {Series} series (limit per run); the next run goes on",
                        domain.Name, RetentionPeriods.Format(month), visited);
                    return (new DomainRetentionReport(domain.Id, domain.Name, months, through, visited, expired), false);
                }
                cancellationToken.ThrowIfCancellationRequested();
                var n = await _series.ExpireRangeAsync(DeviceIds.SeriesId(device), from, to, cancellationToken).ConfigureAwait(false);
                visited++;
                if (n > 0)
                {
                    expired += n;
                    _metrics.RecordsExpired.Add(n);
                }
            }
            await _registry.WriteAsync(new RegistryBatch()
                .SetValue(node, ClearedValue, RetentionPeriods.Format(month))
                .DeleteValue(node, CursorValue), CancellationToken.None).ConfigureAwait(false);
            through = RetentionPeriods.Format(month);
            _logger.LogInformation("Retention of domain {Domain} ({Months} months): cleared {Month} for {Devices} device(s)", domain.Name, months, through, devices.Count);
        }
        return (new DomainRetentionReport(domain.Id, domain.Name, months, through, visited, expired), true);
    }

    private static Guid? PreviousOf(IReadOnlyList<Guid> devices, Guid device)
    {
        Guid? previous = null;
        foreach (var d in devices)
        {
            if (d == device)
            {
                return previous;
            }
            previous = d;
        }
        return previous;
    }

    private static string FormatCursor(DateOnly month, Guid? lastDone)
        => lastDone is { } id ? $"{RetentionPeriods.Format(month)} {id:D}" : RetentionPeriods.Format(month);

    private static (DateOnly? Month, Guid? Device) ParseCursor(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return (null, null);
        }
        var space = text.IndexOf(' ', StringComparison.Ordinal);
        var month = RetentionPeriods.Parse(space < 0 ? text : text[..space]);
        Guid? device = space >= 0 && Guid.TryParseExact(text[(space + 1)..], "D", out var id) ? id : null;
        return (month, device);
    }
}

/// <summary>What one run of the retention job did.</summary>
/// <param name="Trigger">Why it ran: <c>start</c>, <c>schedule</c>, <c>api</c>…</param>
/// <param name="StartedAt">When it started.</param>
/// <param name="FinishedAt">When it finished.</param>
/// <param name="DurationSeconds">How long it took.</param>
/// <param name="Complete"><c>false</c> when it stopped at its per-run limit (the next run goes on) or failed.</param>
/// <param name="GlobalMonths">The global retention it applied (<c>null</c>: keep everything).</param>
/// <param name="MonthsDropped">Months dropped for every device (<c>yyyy-MM</c>).</param>
/// <param name="RecordsExpired">Records deleted for domains with a shorter retention.</param>
/// <param name="SeriesVisited">(device, month) pairs visited for those domains.</param>
/// <param name="Domains">What was done per such domain.</param>
/// <param name="Error">Why it failed, if it did.</param>
public sealed record RetentionReport(
    string Trigger,
    DateTimeOffset StartedAt,
    DateTimeOffset FinishedAt,
    double DurationSeconds,
    bool Complete,
    int? GlobalMonths,
    IReadOnlyList<string> MonthsDropped,
    long RecordsExpired,
    int SeriesVisited,
    IReadOnlyList<DomainRetentionReport> Domains,
    string? Error);

/// <summary>What a retention run did for one domain with a retention of its own.</summary>
/// <param name="Id">The domain.</param>
/// <param name="Name">Its name.</param>
/// <param name="Months">Its retention.</param>
/// <param name="ClearedThrough">The newest month cleared by this run (<c>yyyy-MM</c>), if any.</param>
/// <param name="SeriesVisited">(device, month) pairs visited.</param>
/// <param name="RecordsExpired">Records deleted.</param>
public sealed record DomainRetentionReport(Guid Id, string Name, int Months, string? ClearedThrough, int SeriesVisited, long RecordsExpired);
