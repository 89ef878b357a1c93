using M2M.Storage.Postgres.Registry;
using M2M.Storage.Registry;
using Npgsql;

namespace M2M.Storage.Postgres.Tests;

/// <summary>
/// Conditional registry batches across connection pools (as separate processes have): a claim of an absent
/// value is won once, the placeholders that hold absent cells never show, and crossed conditions (write skew)
/// never both commit.
/// </summary>
public sealed class ConditionalWriteTests(PostgresFixture fixture) : IClassFixture<PostgresFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static RegistryPath P(string path) => RegistryPath.Parse(path);

    private async Task<T> WithRegistries<T>(int count, Func<IReadOnlyList<PostgresRegistry>, Task<T>> test)
    {
        var schema = fixture.NewSchemaName();
        PostgresStore.Open(fixture.DataSource, new PostgresStorageOptions { Schema = schema });
        var sources = Enumerable.Range(0, count).Select(_ => NpgsqlDataSource.Create(fixture.ConnectionString)).ToList();
        try
        {
            return await test([.. sources.Select(s => new PostgresRegistry(PostgresStore.Attach(s, new PostgresStorageOptions { Schema = schema })))]);
        }
        finally
        {
            foreach (var source in sources)
            {
                await source.DisposeAsync();
            }
        }
    }

    [Fact]
    public Task Of_many_batches_claiming_one_absent_index_exactly_one_commits_with_its_entity() => WithRegistries(4, async registries =>
    {
        for (var round = 0; round < 10; round++)
        {
            var index = P($"/thing/by-name/n{round}/");
            var results = await Task.WhenAll(Enumerable.Range(0, 12).Select(i => Task.Run(async () =>
                await registries[i % registries.Count].TryWriteAsync(new RegistryBatch()
                    .Expect(index, "id", null)
                    .SetValue(index, "id", $"e{i}")
                    .SetValue(P($"/thing/r{round}-e{i}/"), "name", $"n{round}"), Ct), Ct)));

            var winner = Assert.Single(Enumerable.Range(0, 12), i => results[i]);
            Assert.Equal($"e{winner}", await registries[0].GetValueAsync(index, "id", Ct));
            Assert.Equal(["id"], (await registries[0].GetEntriesAsync(index, Ct)).Select(e => e.Name));
            var entities = await registries[0].GetChildrenAsync(P("/thing/"), cancellationToken: Ct);
            Assert.Equal([$"r{round}-e{winner}"], entities.Where(e => e.StartsWith($"r{round}-", StringComparison.Ordinal)));
        }
        return true;
    });

    [Fact]
    public Task A_condition_that_fails_writes_nothing_and_leaves_no_placeholder() => WithRegistries(1, async registries =>
    {
        var registry = registries[0];
        await registry.SetValueAsync(P("/idx/a/"), "id", "taken", cancellationToken: Ct);

        Assert.False(await registry.TryWriteAsync(new RegistryBatch()
            .Expect(P("/idx/b/"), "id", null)
            .Expect(P("/idx/a/"), "id", null)
            .SetValue(P("/idx/a/"), "id", "mine")
            .SetValue(P("/idx/b/"), "id", "mine")
            .SetValue(P("/entity/new/"), "k", "v"), Ct));

        Assert.Equal("taken", await registry.GetValueAsync(P("/idx/a/"), "id", Ct));
        Assert.Equal(RegistryNodeStatus.Undefined, await registry.GetStatusAsync(P("/idx/b/"), Ct));
        Assert.Equal(RegistryNodeStatus.Undefined, await registry.GetStatusAsync(P("/entity/new/"), Ct));
        await using var rows = fixture.DataSource.CreateCommand($"SELECT count(*) FROM {registry.Store.Values} WHERE expires_at = 1");
        Assert.Equal(0L, await rows.ExecuteScalarAsync(Ct));
        return true;
    });

    [Fact]
    public Task Two_batches_whose_conditions_cross_never_both_commit() => WithRegistries(2, async registries =>
    {
        for (var round = 0; round < 15; round++)
        {
            // Each expects the other's cell absent and writes its own: a serial order lets only one through.
            var x = P($"/skew/{round}/x/");
            var y = P($"/skew/{round}/y/");
            await registries[0].CreateAsync(x, cancellationToken: Ct);
            await registries[0].CreateAsync(y, cancellationToken: Ct);
            var results = await Task.WhenAll(
                Task.Run(async () => await registries[0].TryWriteAsync(new RegistryBatch().Expect(y, "v", null).SetValue(x, "v", "1"), Ct), Ct),
                Task.Run(async () => await registries[1].TryWriteAsync(new RegistryBatch().Expect(x, "v", null).SetValue(y, "v", "1"), Ct), Ct));

            Assert.Single(results, r => r);
        }
        return true;
    });
}
