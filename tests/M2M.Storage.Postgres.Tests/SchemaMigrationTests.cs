using M2M.Storage.Postgres.Registry;
using M2M.Storage.Postgres.Schema;
using M2M.Storage.Postgres.TimeSeries;
using M2M.Storage.Registry;
using M2M.Storage.TimeSeries;
using Npgsql;

namespace M2M.Storage.Postgres.Tests;

/// <summary>The versioned schema: created from nothing, upgraded when older, refused when newer, migrated once when two open at once.</summary>
public sealed class SchemaMigrationTests(PostgresFixture fixture) : IClassFixture<PostgresFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private PostgresStorageOptions Options(string schema) => new() { Schema = schema };

    private async Task<List<int>> AppliedVersionsAsync(string schema)
    {
        await using var command = fixture.DataSource.CreateCommand($"SELECT version FROM \"{schema}\".schema_version ORDER BY version");
        var versions = new List<int>();
        await using var reader = await command.ExecuteReaderAsync(Ct);
        while (await reader.ReadAsync(Ct))
        {
            versions.Add(reader.GetInt32(0));
        }
        return versions;
    }

    private async Task<bool> TableExistsAsync(string schema, string table)
    {
        await using var command = fixture.DataSource.CreateCommand("SELECT to_regclass($1) IS NOT NULL");
        command.Parameters.Add(new NpgsqlParameter { Value = $"\"{schema}\".{table}" });
        return (bool)(await command.ExecuteScalarAsync(Ct))!;
    }

    [Fact]
    public async Task An_empty_database_gets_every_version_of_the_schema_and_works()
    {
        var schema = fixture.NewSchemaName();

        var store = PostgresStore.Open(fixture.DataSource, Options(schema));

        Assert.Equal(Enumerable.Range(1, PostgresSchema.CurrentVersion), await AppliedVersionsAsync(schema));
        foreach (var table in new[] { "ts", "ts_month", "ts_latest", "registry_node", "registry_value", "registry_block" })
        {
            Assert.True(await TableExistsAsync(schema, table), table);
        }
        var series = new PostgresTimeSeriesStore(store);
        await series.SaveAsync(new TimeSeriesRecord("dev-1", "t", new DateTimeOffset(2026, 3, 1, 0, 0, 0, TimeSpan.Zero), "{}"), Ct);
        Assert.Single(await series.GetLatestAsync("dev-1", Ct));
        await new PostgresRegistry(store).SetValueAsync(RegistryPath.Parse("/a/"), "k", "v", cancellationToken: Ct);
    }

    [Fact]
    public async Task Opening_a_current_schema_again_changes_nothing_and_keeps_the_data()
    {
        var schema = fixture.NewSchemaName();
        var first = PostgresStore.Open(fixture.DataSource, Options(schema));
        await new PostgresRegistry(first).SetValueAsync(RegistryPath.Parse("/kept/"), "k", "v", cancellationToken: Ct);

        var second = PostgresStore.Open(fixture.DataSource, Options(schema));

        Assert.Equal(Enumerable.Range(1, PostgresSchema.CurrentVersion), await AppliedVersionsAsync(schema));
        Assert.Equal("v", await new PostgresRegistry(second).GetValueAsync(RegistryPath.Parse("/kept/"), "k", Ct));
    }

    [Fact]
    public async Task An_older_schema_is_upgraded_step_by_step_keeping_its_data()
    {
        // The current steps, then a newer one that changes a table holding data: the schema written by
        // this build is the "older" one, upgraded by a build that knows one step more.
        var schema = fixture.NewSchemaName();
        var older = PostgresStore.Open(fixture.DataSource, Options(schema));
        await new PostgresRegistry(older).SetValueAsync(RegistryPath.Parse("/device/1/"), "ident", "abc", cancellationToken: Ct);
        var next = PostgresSchema.CurrentVersion + 1;
        Migration[] newer =
        [
            .. PostgresSchema.Migrations,
            new(next, "registry values remember when they were written", s => $"ALTER TABLE {s.Values} ADD COLUMN written_at bigint NOT NULL DEFAULT 7"),
        ];

        PostgresSchema.Migrate(PostgresStore.Attach(fixture.DataSource, Options(schema)), next, newer);

        Assert.Equal(Enumerable.Range(1, next), await AppliedVersionsAsync(schema));
        await using var command = fixture.DataSource.CreateCommand($"SELECT value, written_at FROM \"{schema}\".registry_value WHERE path = '/device/1/' AND name = 'ident'");
        await using var reader = await command.ExecuteReaderAsync(Ct);
        Assert.True(await reader.ReadAsync(Ct));
        Assert.Equal("abc"u8.ToArray(), reader.GetFieldValue<byte[]>(0));
        Assert.Equal(7, reader.GetInt64(1));
    }

    [Fact]
    public async Task A_step_that_fails_leaves_the_previous_version_whole()
    {
        var schema = fixture.NewSchemaName();
        PostgresStore.Open(fixture.DataSource, Options(schema));
        var next = PostgresSchema.CurrentVersion + 1;
        Migration[] broken =
        [
            .. PostgresSchema.Migrations,
            new(next, "half of it works", s => $"CREATE TABLE {s.QualifiedSchema}.half_done (x integer); SELECT no_such_function();"),
        ];

        Assert.Throws<PostgresException>(() => PostgresSchema.Migrate(PostgresStore.Attach(fixture.DataSource, Options(schema)), next, broken));

        Assert.Equal(Enumerable.Range(1, PostgresSchema.CurrentVersion), await AppliedVersionsAsync(schema));
        Assert.False(await TableExistsAsync(schema, "half_done"));
    }

    [Fact]
    public async Task A_newer_schema_is_refused_with_an_error_naming_both_versions_and_left_untouched()
    {
        var schema = fixture.NewSchemaName();
        PostgresStore.Open(fixture.DataSource, Options(schema));
        var newer = PostgresSchema.CurrentVersion + 3;
        await using (var command = fixture.DataSource.CreateCommand($"INSERT INTO \"{schema}\".schema_version (version, description) VALUES ({newer}, 'from the future')"))
        {
            await command.ExecuteNonQueryAsync(Ct);
        }

        var error = Assert.Throws<PostgresSchemaException>(() => PostgresStore.Open(fixture.DataSource, Options(schema)));

        Assert.Contains($"version {newer}", error.Message, StringComparison.Ordinal);
        Assert.Contains($"version {PostgresSchema.CurrentVersion}", error.Message, StringComparison.Ordinal);
        Assert.Contains(schema, error.Message, StringComparison.Ordinal);
        Assert.Equal([.. Enumerable.Range(1, PostgresSchema.CurrentVersion), newer], await AppliedVersionsAsync(schema));
    }

    [Fact]
    public async Task Several_stores_opening_one_empty_schema_at_once_migrate_it_once()
    {
        var schema = fixture.NewSchemaName();
        // Separate connection pools, as separate processes would have.
        var sources = Enumerable.Range(0, 4).Select(_ => NpgsqlDataSource.Create(fixture.ConnectionString)).ToList();
        try
        {
            var stores = await Task.WhenAll(sources.Select(source => Task.Run(() => PostgresStore.Open(source, Options(schema)), Ct)));

            Assert.Equal(Enumerable.Range(1, PostgresSchema.CurrentVersion), await AppliedVersionsAsync(schema));
            await Task.WhenAll(stores.Select((store, i) => new PostgresRegistry(store).SetValueAsync(RegistryPath.Parse("/shared/"), $"k{i}", "v", cancellationToken: Ct).AsTask()));
            Assert.Equal(4, (await new PostgresRegistry(stores[0]).GetValuesAsync(RegistryPath.Parse("/shared/"), Ct)).Count);
        }
        finally
        {
            foreach (var source in sources)
            {
                await source.DisposeAsync();
            }
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("M2M")]
    [InlineData("m2m; DROP TABLE x")]
    [InlineData("1abc")]
    public void A_schema_name_that_is_not_a_plain_identifier_is_refused(string schema) =>
        Assert.Throws<ArgumentException>(() => PostgresStore.Open(fixture.DataSource, Options(schema)));
}
