using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using M2M.Storage.Entities;
using M2M.Storage.Postgres.Registry;
using M2M.Storage.Registry;

namespace M2M.Storage.Postgres.Tests;

/// <summary>
/// Two real <c>M2M.Server</c> processes on one PostgreSQL schema, started at the same moment (so they
/// also migrate the empty schema at once): uniqueness and independent values hold across processes.
/// </summary>
public sealed class ProcessConcurrencyTests(PostgresFixture fixture) : IClassFixture<PostgresFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<(ServerProcess A, ServerProcess B, string Schema)> StartTwoAsync()
    {
        var schema = fixture.NewSchemaName();
        var starting = new[] { ServerProcess.StartAsync(fixture.ConnectionString, schema), ServerProcess.StartAsync(fixture.ConnectionString, schema) };
        try
        {
            var (a, b) = (await starting[0], await starting[1]);
            await Task.WhenAll(a.WaitReadyAsync(), b.WaitReadyAsync());
            return (a, b, schema);
        }
        catch
        {
            // Neither process may outlive a failed start.
            foreach (var server in starting.Where(t => t.IsCompletedSuccessfully))
            {
                await server.Result.DisposeAsync();
            }
            throw;
        }
    }

    private (PostgresRegistry Registry, DeviceStore Devices, DomainStore Domains) Open(string schema)
    {
        var registry = new PostgresRegistry(PostgresStore.Attach(fixture.DataSource, new PostgresStorageOptions { Schema = schema }));
        var domains = new DomainStore(registry);
        return (registry, new DeviceStore(registry, domains), domains);
    }

    /// <summary>The devices whose <c>ident</c> value is <paramref name="ident"/>, found by walking every device node.</summary>
    private static async Task<List<Guid>> DevicesWithIdentAsync(IRegistry registry, string ident)
    {
        var found = new List<Guid>();
        foreach (var child in await registry.GetChildrenAsync(EntityPaths.Devices, cancellationToken: Ct))
        {
            if (Guid.TryParse(child, out var id) && await registry.GetValueAsync(EntityPaths.Device(id), "ident", Ct) == ident)
            {
                found.Add(id);
            }
        }
        return found;
    }

    [Fact]
    public async Task One_new_device_identifying_on_two_servers_at_once_becomes_one_device()
    {
        var (a, b, schema) = await StartTwoAsync();
        await using var _ = a;
        await using var __ = b;
        var (registry, devices, domains) = Open(schema);
        Assert.Single(await domains.ListAsync(Ct), d => d.Name == "default");

        for (var round = 0; round < 8; round++)
        {
            var ident = $"imei:{round}{Guid.NewGuid():N}"[..25];
            await using var onA = await a.ConnectAlipAsync();
            await using var onB = await b.ConnectAlipAsync();
            // Each asserts its answer ID 1.
            await Task.WhenAll(onA.IdentifyAsync(ident), onB.IdentifyAsync(ident));
            var device = Assert.Single(await DevicesWithIdentAsync(registry, ident));
            Assert.Equal((await devices.GetByIdentAsync(ident, Ct))!.Id, device);
        }
    }

    [Fact]
    public async Task One_device_created_through_the_api_of_two_servers_at_once_is_created_once()
    {
        var (a, b, schema) = await StartTwoAsync();
        await using var _ = a;
        await using var __ = b;
        using var adminA = await a.LoginAsync();
        using var adminB = await b.LoginAsync();
        var (registry, _, _) = Open(schema);

        for (var round = 0; round < 8; round++)
        {
            var ident = $"api-race-{round}-{Guid.NewGuid():N}";
            var responses = await Task.WhenAll(
                adminA.PostAsJsonAsync("/api/devices", new { ident }, Ct),
                adminB.PostAsJsonAsync("/api/devices", new { ident }, Ct));

            Assert.Single(responses, r => r.StatusCode == HttpStatusCode.Created);
            Assert.Single(responses, r => r.StatusCode == HttpStatusCode.Conflict);
            Assert.Single(await DevicesWithIdentAsync(registry, ident));
        }
    }

    [Fact]
    public async Task Two_servers_writing_different_values_of_one_node_keep_every_value()
    {
        var (a, b, schema) = await StartTwoAsync();
        await using var _ = a;
        await using var __ = b;
        using var adminA = await a.LoginAsync();
        using var adminB = await b.LoginAsync();
        const int Writes = 60;

        async Task WriteAll(HttpClient client, string prefix)
        {
            for (var i = 0; i < Writes; i++)
            {
                using var response = await client.PutAsJsonAsync("/api/registry/shared/node/", new Dictionary<string, string> { [$"{prefix}{i}"] = $"{prefix}:{i}" }, Ct);
                response.EnsureSuccessStatusCode();
            }
        }
        await Task.WhenAll(WriteAll(adminA, "a"), WriteAll(adminB, "b"));

        var values = await Open(schema).Registry.GetValuesAsync(RegistryPath.Parse("/shared/node/"), Ct);
        Assert.Equal(2 * Writes, values.Count);
        Assert.All(Enumerable.Range(0, Writes), i =>
        {
            Assert.Equal($"a:{i}", values[$"a{i}"]);
            Assert.Equal($"b:{i}", values[$"b{i}"]);
        });
        // Each server reads what the other wrote.
        var seenByA = await adminA.GetFromJsonAsync<JsonElement>("/api/registry/shared/node/", Ct);
        Assert.Equal("b:0", seenByA.GetProperty("values").GetProperty("b0").GetString());
    }
}
