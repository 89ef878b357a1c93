using Npgsql;

namespace M2M.Storage.Benchmarks;

/// <summary>
/// The PostgreSQL of the benchmarks: <c>M2M_BENCH_POSTGRES</c> (else <c>M2M_TEST_POSTGRES</c>), an Npgsql
/// connection string of a user that may create databases. Each benchmark works in a database of its own.
/// </summary>
public static class BenchmarkDatabase
{
    public static string Server =>
        Environment.GetEnvironmentVariable("M2M_BENCH_POSTGRES") is { Length: > 0 } bench ? bench
        : Environment.GetEnvironmentVariable("M2M_TEST_POSTGRES") is { Length: > 0 } test ? test
        : throw new InvalidOperationException("Set M2M_BENCH_POSTGRES (or M2M_TEST_POSTGRES) to an Npgsql connection string.");

    /// <summary>The connection string of database <paramref name="name"/>, created when missing.</summary>
    public static string Ensure(string name)
    {
        using (var connection = new NpgsqlConnection(Server))
        {
            connection.Open();
            using var exists = new NpgsqlCommand("SELECT 1 FROM pg_database WHERE datname = $1", connection);
            exists.Parameters.Add(new NpgsqlParameter { Value = name });
            if (exists.ExecuteScalar() is null)
            {
                using var create = new NpgsqlCommand($"CREATE DATABASE {name} TEMPLATE template0", connection);
                create.ExecuteNonQuery();
            }
        }
        return new NpgsqlConnectionStringBuilder(Server) { Database = name }.ConnectionString;
    }

    public static void Drop(string name)
    {
        NpgsqlConnection.ClearAllPools();
        using var connection = new NpgsqlConnection(Server);
        connection.Open();
        using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {name} WITH (FORCE)", connection);
        drop.ExecuteNonQuery();
    }

    /// <summary>The server settings that decide write throughput and durability, for the report.</summary>
    public static string Settings(NpgsqlDataSource dataSource)
    {
        using var command = dataSource.CreateCommand(
            "SELECT string_agg(name || '=' || current_setting(name), ' ' ORDER BY name) FROM pg_settings " +
            "WHERE name IN ('server_version', 'synchronous_commit', 'fsync', 'full_page_writes', 'wal_level', 'shared_buffers', 'max_wal_size', 'checkpoint_timeout', 'commit_delay')");
        return (string)command.ExecuteScalar()!;
    }
}
