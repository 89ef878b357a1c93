using System.Diagnostics;
using M2M.Storage.Postgres;
using M2M.Storage.Postgres.TimeSeries;
using M2M.Storage.Rocks;
using M2M.Storage.TimeSeries;
using Npgsql;

namespace M2M.Storage.Benchmarks;

/// <summary>
/// Read latency on a large database: builds it once (reused when complete), then times individual
/// queries with a <see cref="Stopwatch"/> and reports median and p99 (BenchmarkDotNet reports means of
/// many invocations, not the tail of single queries). <c>--backend rocks</c> (default) builds a RocksDB
/// directory, <c>--backend postgres</c> a database <c>m2m_bench_latency_&lt;records&gt;</c> on
/// <c>M2M_BENCH_POSTGRES</c>; the same records and queries on both.
/// </summary>
public static class QueryLatency
{
    public static async Task<int> RunAsync(string[] args)
    {
        if (Option(args, "--backend") is "postgres")
        {
            return await RunPostgresAsync(args);
        }
        var records = long.Parse(Option(args, "--records") ?? "10000000", System.Globalization.CultureInfo.InvariantCulture);
        var directory = Option(args, "--dir") ?? Path.Combine(Path.GetTempPath(), $"m2m-bench-db-{records}");
        var samples = int.Parse(Option(args, "--samples") ?? "5000", System.Globalization.CultureInfo.InvariantCulture);
        var buildMinutes = double.Parse(Option(args, "--build-minutes") ?? "12", System.Globalization.CultureInfo.InvariantCulture);
        var marker = Path.Combine(directory, "complete");

        long built;
        if (File.Exists(marker))
        {
            built = long.Parse(File.ReadAllText(marker), System.Globalization.CultureInfo.InvariantCulture);
            Console.WriteLine($"Reusing {directory} ({built:N0} records).");
        }
        else
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
            built = Build(directory, records, TimeSpan.FromMinutes(buildMinutes));
            File.WriteAllText(marker, built.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        using var store = RocksStore.Open(directory);
        var series = new RocksTimeSeriesStore(store);
        await MeasureAllAsync(series, built, samples);
        Console.WriteLine($"Database: {built:N0} records, {DirectorySize(directory) / (1 << 20):N0} MiB on disk, months {string.Join(", ", await series.GetMonthsAsync())}");
        return 0;
    }

    /// <summary>
    /// The same on PostgreSQL: the records are written through the backend's <c>SaveManyAsync</c> (batches of
    /// 5 000; <c>synchronous_commit = off</c> for the build only, which is not measured), then
    /// <c>VACUUM ANALYZE</c> (the steady state autovacuum reaches), then the queries through the backend.
    /// </summary>
    private static async Task<int> RunPostgresAsync(string[] args)
    {
        var records = long.Parse(Option(args, "--records") ?? "10000000", System.Globalization.CultureInfo.InvariantCulture);
        var samples = int.Parse(Option(args, "--samples") ?? "5000", System.Globalization.CultureInfo.InvariantCulture);
        var buildMinutes = double.Parse(Option(args, "--build-minutes") ?? "30", System.Globalization.CultureInfo.InvariantCulture);
        var connectionString = BenchmarkDatabase.Ensure($"m2m_bench_latency_{records}");
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        Console.WriteLine($"PostgreSQL: {BenchmarkDatabase.Settings(dataSource)}");
        var options = new PostgresStorageOptions { Schema = "bench" };
        var series = new PostgresTimeSeriesStore(PostgresStore.Open(dataSource, options));
        await using (var marker = dataSource.CreateCommand("CREATE TABLE IF NOT EXISTS bench.complete (records bigint NOT NULL)"))
        {
            await marker.ExecuteNonQueryAsync();
        }
        await using (var read = dataSource.CreateCommand("SELECT max(records) FROM bench.complete"))
        {
            if (await read.ExecuteScalarAsync() is long done)
            {
                Console.WriteLine($"Reusing database m2m_bench_latency_{records} ({done:N0} records).");
                records = done;
            }
            else
            {
                records = await BuildPostgresAsync(connectionString, options, records, TimeSpan.FromMinutes(buildMinutes));
                foreach (var table in new[] { "bench.ts", "bench.ts_latest" })
                {
                    await using var vacuum = dataSource.CreateCommand($"VACUUM ANALYZE {table}");
                    vacuum.CommandTimeout = 0;
                    await vacuum.ExecuteNonQueryAsync();
                }
                await using var complete = dataSource.CreateCommand($"INSERT INTO bench.complete VALUES ({records})");
                await complete.ExecuteNonQueryAsync();
            }
        }
        await MeasureAllAsync(series, records, samples);
        await using var size = dataSource.CreateCommand(
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'bench' AND c.relkind IN ('r', 't')");
        Console.WriteLine($"Database: {records:N0} records, {(long)(decimal)(await size.ExecuteScalarAsync())! / (1 << 20):N0} MiB (tables, indexes, TOAST), months {string.Join(", ", await series.GetMonthsAsync())}");
        return 0;
    }

    private static async Task<long> BuildPostgresAsync(string connectionString, PostgresStorageOptions options, long records, TimeSpan budget)
    {
        Console.WriteLine($"Building {records:N0} records (synchronous_commit off, batches of 5 000, at most {budget.TotalMinutes} min)...");
        var builder = new NpgsqlConnectionStringBuilder(connectionString) { Options = "-c synchronous_commit=off" };
        await using var dataSource = NpgsqlDataSource.Create(builder.ConnectionString);
        var series = new PostgresTimeSeriesStore(PostgresStore.Open(dataSource, options));
        var watch = Stopwatch.StartNew();
        var batch = new TimeSeriesRecord[5_000];
        long n = 0;
        while (n < records && watch.Elapsed < budget)
        {
            var count = (int)Math.Min(batch.Length, records - n);
            for (var i = 0; i < count; i++)
            {
                batch[i] = Workload.Record(n + i);
            }
            await series.SaveManyAsync(count == batch.Length ? batch : batch[..count]);
            n += count;
            if (n % 1_000_000 == 0)
            {
                Console.WriteLine($"  {n:N0} records, {watch.Elapsed.TotalSeconds:F0} s, {n / watch.Elapsed.TotalSeconds:N0} records/s");
            }
        }
        Console.WriteLine($"Built {n:N0} records in {watch.Elapsed.TotalSeconds:F0} s ({n / watch.Elapsed.TotalSeconds:N0} records/s).");
        return n;
    }

    private static async Task MeasureAllAsync(ITimeSeriesStore series, long built, int samples)
    {
        var rounds = built / Workload.Devices;
        var random = new Random(7);

        // Warm-up: JIT and the first index/filter blocks; not measured.
        for (var i = 0; i < 500; i++)
        {
            await series.GetLatestAsync(Workload.DeviceId(random.Next(Workload.Devices)));
            await series.QueryAsync(RangeQuery(random, rounds, type: null));
        }

        Report("latest per type (3 types)", await Measure(samples, async () =>
        {
            var latest = await series.GetLatestAsync(Workload.DeviceId(random.Next(Workload.Devices)));
            return latest.Count;
        }));
        Report("range 1000, id, all types, oldest first", await Measure(samples, async () => Expect1000((await series.QueryAsync(RangeQuery(random, rounds, null))).Items.Count)));
        Report("range 1000, id, all types, newest first", await Measure(samples, async () => Expect1000((await series.QueryAsync(RangeQuery(random, rounds, null) with { Descending = true })).Items.Count)));
        Report("range 1000, id + type, newest first", await Measure(samples, async () => Expect1000((await series.QueryAsync(RangeQuery(random, rounds, "sen:temp") with { Descending = true })).Items.Count)));
    }

    private static int Expect1000(int count) =>
        count == 1_000 ? count : throw new InvalidOperationException($"A range query returned {count} records instead of 1 000.");

    /// <summary>1 000 records of one device from a random start (records of a device are 15 min apart).</summary>
    private static TimeSeriesQuery RangeQuery(Random random, long rounds, string? type)
    {
        var span = type is null ? 1_000 : 3_000;
        var startRound = random.NextInt64(0, Math.Max(1, rounds - span));
        var from = Workload.Start + Workload.Interval * startRound;
        return new TimeSeriesQuery(Workload.DeviceId(random.Next(Workload.Devices)), type, from, null, Descending: false, Limit: 1_000);
    }

    private static long Build(string directory, long records, TimeSpan budget)
    {
        Console.WriteLine($"Building {records:N0} records in {directory} (ProcessCrash durability, batches of 5 000, at most {budget.TotalMinutes} min)...");
        using var store = RocksStore.Open(directory, new RocksStoreOptions { Durability = Durability.ProcessCrash });
        var series = new RocksTimeSeriesStore(store);
        var watch = Stopwatch.StartNew();
        var batch = new TimeSeriesRecord[5_000];
        long n = 0;
        while (n < records && watch.Elapsed < budget)
        {
            var count = (int)Math.Min(batch.Length, records - n);
            for (var i = 0; i < count; i++)
            {
                batch[i] = Workload.Record(n + i);
            }
            series.SaveManyAsync(count == batch.Length ? batch : batch[..count]).AsTask().GetAwaiter().GetResult();
            n += count;
            if (n % 1_000_000 == 0)
            {
                Console.WriteLine($"  {n:N0} records, {watch.Elapsed.TotalSeconds:F0} s, {n / watch.Elapsed.TotalSeconds:N0} records/s");
            }
        }
        Console.WriteLine($"Built {n:N0} records in {watch.Elapsed.TotalSeconds:F0} s ({n / watch.Elapsed.TotalSeconds:N0} records/s).");
        return n;
    }

    private static async Task<double[]> Measure(int samples, Func<Task<int>> query)
    {
        var times = new double[samples];
        for (var i = 0; i < samples; i++)
        {
            var started = Stopwatch.GetTimestamp();
            var count = await query();
            times[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            if (count == 0)
            {
                throw new InvalidOperationException("A query returned nothing: the database does not hold the expected data.");
            }
        }
        Array.Sort(times);
        return times;
    }

    private static void Report(string name, double[] sorted) =>
        Console.WriteLine(FormattableString.Invariant(
            $"{name,-42} n={sorted.Length} median={sorted[sorted.Length / 2]:F3} ms p99={sorted[(int)(sorted.Length * 0.99)]:F3} ms max={sorted[^1]:F3} ms"));

    private static long DirectorySize(string directory) => new DirectoryInfo(directory).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);

    private static string? Option(string[] args, string name)
    {
        var index = Array.IndexOf(args, name);
        return index >= 0 && index + 1 < args.Length ? args[index + 1] : null;
    }
}
