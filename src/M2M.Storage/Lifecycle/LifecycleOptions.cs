namespace M2M.Storage.Lifecycle;

/// <summary>Retention of time series (configuration section <c>M2M:Storage:Retention</c>).</summary>
public sealed class RetentionOptions
{
    public const string Section = "M2M:Storage:Retention";

    /// <summary>
    /// Whole months of time series kept, for every device; unset (the default) keeps everything. A month is
    /// dropped (<c>DropMonthAsync</c>) once all of it is older than this many months, so at least
    /// <c>Months</c> and at most <c>Months + 1</c> months are kept. The latest value of each type survives.
    /// </summary>
    public int? Months { get; set; }

    /// <summary>Time between two runs of the retention job (it also runs when the host starts).</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromDays(1);

    /// <summary>
    /// Most (device, month) deletions one run makes for domains with a shorter retention of their own; the
    /// next run (one minute later) goes on where it stopped.
    /// </summary>
    public int MaxSeriesPerRun { get; set; } = 100_000;

    /// <summary><c>false</c>: no scheduled runs (the admin API can still run it).</summary>
    public bool Enabled { get; set; } = true;
}

/// <summary>Cleanup of the registry (configuration section <c>M2M:Storage:Cleanup</c>).</summary>
public sealed class CleanupOptions
{
    public const string Section = "M2M:Storage:Cleanup";

    /// <summary>How long a soft-deleted node (user, domain, API key, registry node…) is kept before it is removed for real.</summary>
    public TimeSpan GracePeriod { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Time between two runs of the cleanup job (it also runs when the host starts).</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromDays(1);

    /// <summary><c>false</c>: no scheduled runs (the admin API can still run it).</summary>
    public bool Enabled { get; set; } = true;
}
