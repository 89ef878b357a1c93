using Microsoft.Extensions.Logging;
using Npgsql;

namespace M2M.Storage.Postgres.Schema;

/// <summary>
/// Versioned migrations of the platform's schema. Each version is one step of SQL; the versions applied
/// are rows of <c>schema_version</c>. <see cref="Migrate"/> runs in one transaction that first takes an
/// advisory lock of the schema: a second process starting at the same time waits for the lock, then
/// finds the schema current and changes nothing. PostgreSQL's DDL is transactional, so a migration
/// interrupted by a crash leaves the previous version whole.
/// </summary>
internal static class PostgresSchema
{
    /// <summary>The version this build writes. Bump it with a new entry in <see cref="Migrations"/>.</summary>
    public static int CurrentVersion => Migrations[^1].Version;

    /// <summary>The steps, oldest first; version <c>n</c> is <c>Migrations[n - 1]</c>.</summary>
    public static IReadOnlyList<Migration> Migrations { get; } = Schema.Migrations.All;

    /// <summary>The version stored in the schema (0 when the schema or its version table does not exist).</summary>
    public static int ReadVersion(NpgsqlConnection connection, PostgresStore store, NpgsqlTransaction? transaction = null)
    {
        using var exists = new NpgsqlCommand("SELECT to_regclass($1) IS NOT NULL", connection, transaction);
        exists.Parameters.Add(new NpgsqlParameter { Value = $"{store.QualifiedSchema}.schema_version" });
        if (!(bool)exists.ExecuteScalar()!)
        {
            return 0;
        }
        using var read = new NpgsqlCommand($"SELECT coalesce(max(version), 0) FROM {store.QualifiedSchema}.schema_version", connection, transaction);
        return (int)read.ExecuteScalar()!;
    }

    /// <summary>
    /// Brings the schema to <paramref name="target"/> (normally <see cref="CurrentVersion"/>; tests build older
    /// schemas) with <paramref name="migrations"/> (normally <see cref="Migrations"/>; tests add steps).
    /// </summary>
    /// <exception cref="PostgresSchemaException">The stored version is newer than the last of <paramref name="migrations"/>.</exception>
    public static void Migrate(PostgresStore store, int target, IReadOnlyList<Migration>? migrations = null)
    {
        migrations ??= Migrations;
        var known = migrations[^1].Version;
        ArgumentOutOfRangeException.ThrowIfGreaterThan(target, known);
        using var connection = store.DataSource.OpenConnection();
        using var transaction = connection.BeginTransaction();
        Execute(connection, transaction, $"SELECT pg_advisory_xact_lock({store.LockKey("migrate")})");
        var current = ReadVersion(connection, store, transaction);
        if (current > known)
        {
            throw new PostgresSchemaException(
                $"The database schema '{store.Schema}' is at version {current}, newer than version {known} that this build knows; " +
                "it was written by a newer version of the platform. Run that version (or newer), or restore a database of version " +
                $"{known} or older; this build does not change a schema it does not understand.");
        }
        if (current >= target)
        {
            transaction.Rollback();
            return;
        }
        if (current == 0)
        {
            Execute(connection, transaction, $"""
                CREATE SCHEMA IF NOT EXISTS {store.QualifiedSchema};
                CREATE TABLE IF NOT EXISTS {store.QualifiedSchema}.schema_version (
                    version integer PRIMARY KEY,
                    description text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now());
                """);
        }
        foreach (var migration in migrations.Where(m => m.Version > current && m.Version <= target))
        {
            store.Logger.LogInformation("Migrating schema {Schema} to version {Version}: {Description}.", store.Schema, migration.Version, migration.Description);
            Execute(connection, transaction, migration.Sql(store));
            using var record = new NpgsqlCommand($"INSERT INTO {store.QualifiedSchema}.schema_version (version, description) VALUES ($1, $2)", connection, transaction);
            record.Parameters.Add(new NpgsqlParameter { Value = migration.Version });
            record.Parameters.Add(new NpgsqlParameter { Value = migration.Description });
            record.ExecuteNonQuery();
        }
        transaction.Commit();
    }

    private static void Execute(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql)
    {
        using var command = new NpgsqlCommand(sql, connection, transaction);
        command.ExecuteNonQuery();
    }
}

/// <summary>One version of the schema: the SQL that turns the previous version into it.</summary>
/// <param name="Version">1, 2, …</param>
/// <param name="Description">What the version changes (stored with it).</param>
/// <param name="Sql">The step's SQL, for the store's (qualified) table names.</param>
internal sealed record Migration(int Version, string Description, Func<PostgresStore, string> Sql);
