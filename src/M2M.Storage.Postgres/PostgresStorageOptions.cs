namespace M2M.Storage.Postgres;

/// <summary>Tuning of the PostgreSQL backend (configuration section <c>M2M:Storage:Postgres</c>).</summary>
public sealed class PostgresStorageOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "M2M:Storage:Postgres";

    /// <summary>
    /// The schema that holds the platform's tables (created when missing). Several platforms, or test
    /// runs, can share one database in different schemas.
    /// </summary>
    public string Schema { get; set; } = "m2m";

    /// <summary>
    /// Monthly time-series partitions created ahead of time, after the current month (at start-up and
    /// then hourly). Records of any other month create their partition on demand.
    /// </summary>
    public int MonthsAhead { get; set; } = 2;

    /// <summary>How a batch of records reaches the time-series table (see <see cref="PostgresBatchMethod"/>).</summary>
    public PostgresBatchMethod BatchMethod { get; set; } = PostgresBatchMethod.Unnest;
}

/// <summary>
/// The two ways a batch of records is written; both are one transaction and one commit per batch, and
/// both are idempotent (<c>ON CONFLICT DO NOTHING</c>). <c>BENCHMARKS.md</c> (Storage, PostgreSQL) has
/// the figures that chose the default.
/// </summary>
public enum PostgresBatchMethod
{
    /// <summary>
    /// The records travel as binary arrays (one per column) in one <c>INSERT … SELECT FROM unnest(…)</c>,
    /// sent with the month index and latest-value statements as one batch: one round trip, which is
    /// also the commit.
    /// </summary>
    Unnest,

    /// <summary>
    /// Binary <c>COPY</c> into a temporary staging table, then one <c>INSERT … SELECT</c> from it, in an
    /// explicit transaction: three round trips.
    /// </summary>
    Copy,
}
