using System.Collections.Concurrent;
using System.Text;
using M2M.Storage.Entities;
using M2M.Storage.Postgres.TimeSeries;
using M2M.Storage.TimeSeries;

namespace M2M.Storage.Postgres.Tests;

/// <summary>
/// <c>kill -9</c> of a server on PostgreSQL while a device streams stamped records with barriers: after a
/// restart every record whose barrier was answered is there, and re-sending what was not acknowledged
/// (as a device does) stores nothing twice.
/// </summary>
public sealed class CrashTests(PostgresFixture fixture) : IClassFixture<PostgresFixture>
{
    private const int PerRound = 40;
    private const long Base = 1_700_000_000;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Round(int round) =>
        string.Concat(Enumerable.Range(0, PerRound).Select(i => $"E {Base + round * PerRound + i} kill {round}-{i}\n")) + $"A {round}\n";

    private async Task<List<string>> StoredValuesAsync(string schema, string ident)
    {
        var series = new PostgresTimeSeriesStore(PostgresStore.Attach(fixture.DataSource, new PostgresStorageOptions { Schema = schema }));
        var query = new TimeSeriesQuery($"dev-{DeviceIds.FromIdent(ident):D}", "kill", Descending: false, Limit: 1_000);
        var values = new List<string>();
        for (string? continuation = null; ;)
        {
            var page = await series.QueryAsync(query with { Continuation = continuation }, Ct);
            values.AddRange(page.Items.Select(r => System.Text.Json.JsonSerializer.Deserialize<string>(r.Data)!));
            if ((continuation = page.Continuation) is null)
            {
                return values;
            }
        }
    }

    [Fact]
    public async Task Every_record_acknowledged_before_a_kill_is_stored_once_and_resending_duplicates_nothing()
    {
        var schema = fixture.NewSchemaName();
        var ident = $"imei:{Guid.NewGuid():N}"[..25];
        var acknowledged = new ConcurrentBag<int>();
        var sent = 0;

        await using (var server = await ServerProcess.StartAsync(fixture.ConnectionString, schema))
        {
            await server.WaitReadyAsync();
            await using var device = await server.ConnectAlipAsync();
            await device.IdentifyAsync(ident);
            Assert.Equal("S GA", await device.ReadLineAsync());

            // The device streams rounds without waiting for their barriers; the answers are read apart.
            var reader = Task.Run(async () =>
            {
                while (await device.ReadLineAsync(TimeSpan.FromSeconds(60)) is { } line)
                {
                    if (line.StartsWith("B ", StringComparison.Ordinal))
                    {
                        acknowledged.Add(int.Parse(line[2..], System.Globalization.CultureInfo.InvariantCulture));
                    }
                }
            }, Ct);
            using var stop = new CancellationTokenSource();
            var sender = Task.Run(async () =>
            {
                try
                {
                    for (var round = 0; !stop.IsCancellationRequested; round++)
                    {
                        // Counted before it leaves: a round cut by the kill may be partly stored.
                        Volatile.Write(ref sent, round + 1);
                        await device.SendTextAsync(Round(round));
                        await Task.Delay(2, CancellationToken.None);
                    }
                }
                catch (IOException)
                {
                    // The server is gone.
                }
            }, Ct);

            var deadline = DateTime.UtcNow.AddSeconds(120);
            while (acknowledged.Count < 25)
            {
                Assert.True(DateTime.UtcNow < deadline, $"Only {acknowledged.Count} barriers answered in time.\n{server.Output}");
                await Task.Delay(10, Ct);
            }
            // kill -9 while records keep arriving: some batch is in flight.
            await server.KillAsync();
            stop.Cancel();
            await sender;
            await reader;
        }
        Assert.True(sent > acknowledged.Count, "Records were still being sent when the server was killed.");

        var afterCrash = await StoredValuesAsync(schema, ident);
        var expected = acknowledged.SelectMany(r => Enumerable.Range(0, PerRound).Select(i => $"{r}-{i}")).ToList();
        Assert.Empty(expected.Except(afterCrash));
        Assert.Equal(afterCrash.Count, afterCrash.Distinct().Count());

        // The restarted server; the device sends again everything from the first round it has no answer for.
        await using (var restarted = await ServerProcess.StartAsync(fixture.ConnectionString, schema))
        {
            await restarted.WaitReadyAsync();
            await using var device = await restarted.ConnectAlipAsync();
            await device.IdentifyAsync(ident);
            Assert.Equal("S GA", await device.ReadLineAsync());
            var firstUnacknowledged = Enumerable.Range(0, sent + 1).First(r => !acknowledged.Contains(r));
            var resend = new StringBuilder();
            for (var round = firstUnacknowledged; round < sent; round++)
            {
                resend.Append(Round(round));
            }
            resend.Append("A end\n");
            await device.SendTextAsync(resend.ToString());
            string? line;
            while ((line = await device.ReadLineAsync(TimeSpan.FromSeconds(60))) is not null && line != "B end")
            {
            }
            Assert.Equal("B end", line);
        }

        var final = await StoredValuesAsync(schema, ident);
        Assert.Equal(sent * PerRound, final.Count);
        Assert.Equal(final.Count, final.Distinct().Count());
    }
}
