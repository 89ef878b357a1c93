using System.Data.Common;
using Npgsql;

namespace M2M.Storage.Postgres;

/// <summary>
/// Connection settings the backend applies when the connection string does not choose them itself:
/// <list type="bullet">
/// <item><c>Max Auto Prepare=64</c>, <c>Auto Prepare Min Usages=2</c>: the registry's statements are
/// few and repeated on every command and identification, so each connection prepares them once instead
/// of having the server parse and plan them on every call;</item>
/// <item><c>No Reset On Close=true</c>: a connection returned to the pool is not reset by a round trip
/// of its own (<c>DISCARD ALL</c>, or with prepared statements a sequence of five). The backend leaves no
/// session state behind: its locks are transaction-scoped, it sets no session parameter, and its one
/// temporary table is emptied at every commit (<c>ON COMMIT DELETE ROWS</c>) and meant to be reused.</item>
/// </list>
/// Measured with <c>bench/command-latency.sh</c> (BENCHMARKS.md, Command latency): PostgreSQL's CPU per
/// command fell by a third. Behind a pooler in transaction mode (PgBouncer), set <c>Max Auto Prepare=0</c>
/// in the connection string: a value given there is always kept.
/// </summary>
public static class PostgresConnectionDefaults
{
    /// <summary>Statements each connection may keep prepared.</summary>
    public const int MaxAutoPrepare = 64;

    /// <summary>Uses of a statement on a connection before it is prepared there.</summary>
    public const int AutoPrepareMinUsages = 2;

    /// <summary>
    /// Sets on <paramref name="builder"/> each default whose keyword <paramref name="connectionString"/>
    /// (the text the builder was parsed from) does not contain.
    /// </summary>
    public static void Apply(NpgsqlConnectionStringBuilder builder, string? connectionString)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var given = Keywords(connectionString);
        if (!given.Contains("maxautoprepare"))
        {
            builder.MaxAutoPrepare = MaxAutoPrepare;
        }
        if (!given.Contains("autoprepareminusages"))
        {
            builder.AutoPrepareMinUsages = AutoPrepareMinUsages;
        }
        if (!given.Contains("noresetonclose"))
        {
            builder.NoResetOnClose = true;
        }
    }

    /// <summary>A data source on <paramref name="connectionString"/> with the defaults applied.</summary>
    public static NpgsqlDataSource CreateDataSource(string connectionString)
    {
        var builder = new NpgsqlDataSourceBuilder(connectionString);
        Apply(builder.ConnectionStringBuilder, connectionString);
        return builder.Build();
    }

    /// <summary>The keywords of a connection string, lower case and without spaces (<c>Max Auto Prepare</c> → <c>maxautoprepare</c>).</summary>
    private static HashSet<string> Keywords(string? connectionString)
    {
        var keywords = new HashSet<string>(StringComparer.Ordinal);
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            return keywords;
        }
        var parsed = new DbConnectionStringBuilder { ConnectionString = connectionString };
        foreach (string key in parsed.Keys)
        {
            keywords.Add(key.Replace(" ", "", StringComparison.Ordinal).ToLowerInvariant());
        }
        return keywords;
    }
}
