using M2M.Storage.Lifecycle;
using M2M.Storage.TimeSeries;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace M2M.Api.Apis;

/// <summary>
/// <c>/api/admin/retention</c> and <c>/api/admin/cleanup</c>: administrators see the storage maintenance
/// jobs (settings, whether one runs now, the report of the last run) and run them now.
/// </summary>
public static class MaintenanceApi
{
    public static RouteGroupBuilder MapMaintenanceApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/admin").WithTags("Maintenance").RequireAuthorization(ApiExtensions.AdminPolicy);
        group.MapGet("/retention", GetRetentionAsync).WithName("getRetention")
            .WithSummary("Retention settings, whether it runs now and the report of its last run.");
        group.MapPost("/retention/run", RunRetentionAsync).WithName("runRetention")
            .WithSummary("Run the retention job now and answer its report (409 while another node runs it).");
        group.MapGet("/cleanup", GetCleanupAsync).WithName("getCleanup")
            .WithSummary("Registry cleanup settings, whether it runs now and the report of its last run.");
        group.MapPost("/cleanup/run", RunCleanupAsync).WithName("runCleanup")
            .WithSummary("Run the registry cleanup now and answer its report (409 while another node runs it).");
        return group;
    }

    internal static async Task<Ok<RetentionStatus>> GetRetentionAsync(RetentionJob job, ITimeSeriesStore series, CancellationToken cancellationToken)
    {
        var options = job.Options;
        var months = await series.GetMonthsAsync(cancellationToken);
        return TypedResults.Ok(new RetentionStatus(options.Months, options.Interval.TotalSeconds, options.MaxSeriesPerRun, options.Enabled,
            await job.GetHolderAsync(cancellationToken) is not null, [.. months.Select(RetentionPeriods.Format)], await job.GetLastRunAsync(cancellationToken)));
    }

    internal static async Task<Results<Ok<RetentionReport>, ProblemHttpResult>> RunRetentionAsync(RetentionJob job)
    {
        // Not tied to the request: a client that gives up does not stop a run half way.
        var report = await job.RunAsync("api", CancellationToken.None);
        return report is null
            ? TypedResults.Problem(title: "The retention job is running on another node; try again when it is done.", statusCode: StatusCodes.Status409Conflict)
            : TypedResults.Ok(report);
    }

    internal static async Task<Ok<CleanupStatus>> GetCleanupAsync(CleanupJob job, CancellationToken cancellationToken)
    {
        var options = job.Options;
        return TypedResults.Ok(new CleanupStatus(options.GracePeriod.TotalSeconds, options.Interval.TotalSeconds, options.Enabled, job.IsRunning,
            await job.GetLastRunAsync(cancellationToken)));
    }

    internal static async Task<Results<Ok<CleanupReport>, ProblemHttpResult>> RunCleanupAsync(CleanupJob job)
    {
        var report = await job.RunAsync("api", CancellationToken.None);
        return report is null
            ? TypedResults.Problem(title: "The cleanup job is running on another node; try again when it is done.", statusCode: StatusCodes.Status409Conflict)
            : TypedResults.Ok(report);
    }
}

/// <summary>The retention job as the API shows it.</summary>
/// <param name="Months">Global retention in months (<c>null</c>: keep everything).</param>
/// <param name="IntervalSeconds">Time between scheduled runs.</param>
/// <param name="MaxSeriesPerRun">(device, month) deletions per run for domains with a shorter retention.</param>
/// <param name="Enabled">Whether runs are scheduled.</param>
/// <param name="Running">Whether a node runs it now.</param>
/// <param name="StoredMonths">The months that hold time series now (<c>yyyy-MM</c>, oldest first).</param>
/// <param name="LastRun">The report of the last run, if any.</param>
public sealed record RetentionStatus(int? Months, double IntervalSeconds, int MaxSeriesPerRun, bool Enabled, bool Running, IReadOnlyList<string> StoredMonths, RetentionReport? LastRun);

/// <summary>The registry cleanup job as the API shows it.</summary>
/// <param name="GracePeriodSeconds">How long soft-deleted nodes are kept.</param>
/// <param name="IntervalSeconds">Time between scheduled runs.</param>
/// <param name="Enabled">Whether runs are scheduled.</param>
/// <param name="Running">Whether this node runs it now.</param>
/// <param name="LastRun">The report of the last run, if any.</param>
public sealed record CleanupStatus(double GracePeriodSeconds, double IntervalSeconds, bool Enabled, bool Running, CleanupReport? LastRun);
