using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using M2M.Storage.Postgres;
using M2M.Storage.Postgres.TimeSeries;
using M2M.Storage.TimeSeries;
using Npgsql;
using NpgsqlTypes;

namespace M2M.Storage.Benchmarks;

/// <summary>
/// Ingest into PostgreSQL of the same stream of records, per record: the batch writer over the
/// PostgreSQL backend (each group commit = one transaction writing <c>ts</c>, <c>ts_month</c> and
/// <c>ts_latest</c>), with either batch method, against a raw binary <c>COPY</c> of the same rows into
/// the same partitioned table (one COPY and commit per 5 000 rows, the writer's largest batch; no
/// conflict handling, no month index, no latest values). Server settings are printed at start;
/// durability is the server's (<c>synchronous_commit</c>). Needs <c>M2M_BENCH_POSTGRES</c>.
/// </summary>
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 1, iterationCount: 5)]
[MemoryDiagnoser]
public class PostgresInsertBenchmarks
{
    public const int RecordsPerInvocation = 100_000;
    private const int CopyRows = 5_000;

    private string _database = "";
    private NpgsqlDataSource? _dataSource;
    private PostgresStore? _store;
    private TimeSeriesRecord[] _records = [];
    private long[] _hashes = [];
    private long _round;
    private readonly Dictionary<PostgresBatchMethod, (PostgresTimeSeriesStore Store, RecordWriter Writer)> _writers = [];

    [GlobalSetup]
    public void Setup()
    {
        _database = $"m2m_bench_insert_{Guid.NewGuid():N}";
        _dataSource = NpgsqlDataSource.Create(BenchmarkDatabase.Ensure(_database));
        Console.WriteLine($"// PostgreSQL: {BenchmarkDatabase.Settings(_dataSource)}");
        _store = PostgresStore.Open(_dataSource, new PostgresStorageOptions { Schema = "bench" });
        foreach (var method in new[] { PostgresBatchMethod.Unnest, PostgresBatchMethod.Copy })
        {
            // Two stores over the same schema: the same tables, a different way of sending a batch.
            var store = new PostgresTimeSeriesStore(PostgresStore.Open(_dataSource, new PostgresStorageOptions { Schema = "bench", BatchMethod = method }));
            var writer = new RecordWriter(store);
            writer.Start();
            _writers[method] = (store, writer);
        }
    }

    [IterationSetup]
    public void NextRecords()
    {
        // New keys every invocation (later rounds of the same devices), generated outside the measurement;
        // their months' partitions exist before it (the raw COPY would fail without them).
        var first = _round++ * RecordsPerInvocation;
        _records = new TimeSeriesRecord[RecordsPerInvocation];
        _hashes = new long[RecordsPerInvocation];
        for (var i = 0; i < _records.Length; i++)
        {
            _records[i] = Workload.Record(first + i);
            _hashes[i] = RecordIdentity.Discriminator(_records[i].Data);
        }
        var months = _records.Select(r => MonthPartitions.MonthOf(r.Time.UtcTicks)).Distinct().ToList();
        _store!.Partitions.EnsureAsync(months, CancellationToken.None).AsTask().GetAwaiter().GetResult();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = RecordsPerInvocation)]
    public async Task RawCopy()
    {
        await using var connection = await _dataSource!.OpenConnectionAsync();
        for (var start = 0; start < _records.Length; start += CopyRows)
        {
            await using var importer = await connection.BeginBinaryImportAsync("COPY bench.ts (id, time, type, hash, data) FROM STDIN (FORMAT BINARY)");
            var end = Math.Min(start + CopyRows, _records.Length);
            for (var i = start; i < end; i++)
            {
                var record = _records[i];
                await importer.StartRowAsync();
                await importer.WriteAsync(record.Id, NpgsqlDbType.Text);
                await importer.WriteAsync(record.Time.UtcTicks, NpgsqlDbType.Bigint);
                await importer.WriteAsync(record.Type, NpgsqlDbType.Text);
                await importer.WriteAsync(_hashes[i], NpgsqlDbType.Bigint);
                await importer.WriteAsync(record.Data, NpgsqlDbType.Text);
            }
            await importer.CompleteAsync();
        }
    }

    [Benchmark(OperationsPerInvoke = RecordsPerInvocation)]
    public Task BatchWriterUnnest() => WriteAsync(_writers[PostgresBatchMethod.Unnest].Writer);

    [Benchmark(OperationsPerInvoke = RecordsPerInvocation)]
    public Task BatchWriterCopy() => WriteAsync(_writers[PostgresBatchMethod.Copy].Writer);

    /// <summary>Four producers, as sessions would be, then the barrier of the last record.</summary>
    private async Task WriteAsync(RecordWriter writer)
    {
        var records = _records;
        const int Producers = 4;
        var share = records.Length / Producers;
        var last = await Task.WhenAll(Enumerable.Range(0, Producers).Select(p => Task.Run(async () =>
        {
            long ticket = 0;
            var end = p == Producers - 1 ? records.Length : (p + 1) * share;
            for (var i = p * share; i < end; i++)
            {
                ticket = await writer.WriteAsync(records[i]);
            }
            return ticket;
        })));
        await writer.WaitDurableAsync(last.Max());
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var (store, writer) in _writers.Values)
        {
            writer.DisposeAsync().AsTask().GetAwaiter().GetResult();
            store.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
        _dataSource?.Dispose();
        BenchmarkDatabase.Drop(_database);
    }
}
