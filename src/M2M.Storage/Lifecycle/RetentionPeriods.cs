namespace M2M.Storage.Lifecycle;

/// <summary>Month arithmetic of retention (UTC calendar months, as the time series group records).</summary>
public static class RetentionPeriods
{
    /// <summary>First instant of <paramref name="month"/> (its day is ignored).</summary>
    public static DateTimeOffset Start(DateOnly month) => new(month.Year, month.Month, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>Last instant (tick) of <paramref name="month"/>.</summary>
    public static DateTimeOffset End(DateOnly month)
        => month.Year == 9999 && month.Month == 12 ? DateTimeOffset.MaxValue : Start(month).AddMonths(1).AddTicks(-1);

    /// <summary>
    /// Whether every record of <paramref name="month"/> is older than <paramref name="months"/> months
    /// before <paramref name="now"/>: such a month is expired under that retention.
    /// </summary>
    public static bool IsExpired(DateOnly month, int months, DateTimeOffset now)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(months, 1);
        if (month.Year == 9999 && month.Month == 12)
        {
            return false;
        }
        var threshold = now.ToUniversalTime();
        threshold = threshold.Year * 12 + threshold.Month - 1 > months ? threshold.AddMonths(-months) : DateTimeOffset.MinValue;
        return Start(month).AddMonths(1) <= threshold;
    }

    /// <summary>A month as <c>yyyy-MM</c>.</summary>
    public static string Format(DateOnly month) => month.ToString("yyyy-MM", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Parses <see cref="Format"/>'s text.</summary>
    public static DateOnly? Parse(string? text)
        => DateOnly.TryParseExact(text, "yyyy-MM", System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.None, out var month) ? month : null;
}
