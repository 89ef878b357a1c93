using Npgsql;

namespace M2M.Testing;

/// <summary>
/// A database of its own on the test PostgreSQL (<see cref="RequiredServices.Postgres"/>), created from
/// <c>template0</c> and dropped (with its connections) on dispose, so that concurrent test runs and other
/// engineers never see each other's data. Skips the test when PostgreSQL is not configured.
/// </summary>
public sealed class PostgresDatabase : IDisposable
{
    private readonly string _admin;

    private PostgresDatabase(string admin, string name)
    {
        _admin = admin;
        Name = name;
        ConnectionString = new NpgsqlConnectionStringBuilder(admin) { Database = name }.ConnectionString;
    }

    /// <summary>The database's name (<c>m2m_t_…</c>).</summary>
    public string Name { get; }

    /// <summary>A connection string to the database (the server's credentials).</summary>
    public string ConnectionString { get; }

    /// <summary>Creates a fresh, empty database.</summary>
    public static PostgresDatabase Create()
    {
        var admin = RequiredServices.Postgres;
        var name = $"m2m_t_{Guid.NewGuid():N}";
        using var connection = new NpgsqlConnection(admin);
        connection.Open();
        using var command = new NpgsqlCommand($"CREATE DATABASE {name} TEMPLATE template0", connection);
        command.ExecuteNonQuery();
        return new PostgresDatabase(admin, name);
    }

    public void Dispose()
    {
        NpgsqlConnection.ClearAllPools();
        try
        {
            using var connection = new NpgsqlConnection(_admin);
            connection.Open();
            using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS {Name} WITH (FORCE)", connection);
            command.ExecuteNonQuery();
        }
        catch (NpgsqlException)
        {
            // The server went away: nothing left to drop that a test could see.
        }
    }
}

/// <summary>
/// Which storage backend the server-level suites run on: RocksDB (default), or PostgreSQL when
/// <c>M2M_TEST_BACKEND=postgres</c> — each server data directory then gets a database of its own, kept
/// while the directory is in use (a restart on the same directory finds its data again).
/// </summary>
public static class TestBackend
{
    /// <summary>The environment switch.</summary>
    public const string Variable = "M2M_TEST_BACKEND";

    private static readonly Dictionary<string, PostgresDatabase> Databases = new(StringComparer.Ordinal);

    static TestBackend() => AppDomain.CurrentDomain.ProcessExit += (_, _) =>
    {
        lock (Databases)
        {
            foreach (var database in Databases.Values)
            {
                database.Dispose();
            }
            Databases.Clear();
        }
    };

    /// <summary><c>true</c> when the server-level suites run on PostgreSQL.</summary>
    public static bool IsPostgres => string.Equals(Environment.GetEnvironmentVariable(Variable)?.Trim(), "postgres", StringComparison.OrdinalIgnoreCase);

    /// <summary>The command-line arguments that put a server with this data directory on the chosen backend.</summary>
    public static string[] Arguments(string dataDirectory)
    {
        if (!IsPostgres)
        {
            return [];
        }
        PostgresDatabase? database;
        lock (Databases)
        {
            if (!Databases.TryGetValue(dataDirectory, out database))
            {
                Databases[dataDirectory] = database = PostgresDatabase.Create();
            }
        }
        return ["--M2M:Storage:Backend", "postgres", "--ConnectionStrings:m2mdb", database.ConnectionString];
    }

    /// <summary>Drops the database of a data directory that is no longer used (no-op on RocksDB).</summary>
    public static void Release(string dataDirectory)
    {
        PostgresDatabase? database;
        lock (Databases)
        {
            if (!Databases.Remove(dataDirectory, out database))
            {
                return;
            }
        }
        database.Dispose();
    }
}
