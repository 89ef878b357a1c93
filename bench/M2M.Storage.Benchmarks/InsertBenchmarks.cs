using System.Buffers.Binary;
using System.Text;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using M2M.Storage.Rocks;
using M2M.Storage.TimeSeries;
using RocksDbSharp;

namespace M2M.Storage.Benchmarks;

/// <summary>
/// Synced ingest of the same stream of records: through the batch writer (group commits into ts,
/// ts_type, ts_latest, month index) against a minimal raw RocksDB loop (one put per record into one
/// column family, one synced WriteBatch per 1 000 records). Results are per record.
/// </summary>
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 1, iterationCount: 5)]
[MemoryDiagnoser]
public class InsertBenchmarks
{
    public const int RecordsPerInvocation = 200_000;

    private string _directory = "";
    private TimeSeriesRecord[] _records = [];
    private long _round;
    private RocksStore? _store;
    private RecordWriter? _writer;
    private RocksDb? _raw;
    private WriteOptions? _synced;
    private ColumnFamilyHandle? _defaultFamily;

    /// <summary>The batch writer's commit pipelining (<see cref="RecordWriterOptions.Pipeline"/>; off by default).</summary>
    [Params(false, true)]
    public bool Pipeline { get; set; }

    [Params(1, 4)]
    public int Producers { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _directory = Path.Combine(Path.GetTempPath(), $"m2m-bench-insert-{Guid.NewGuid():N}");
        _store = RocksStore.Open(Path.Combine(_directory, "store"));
        _writer = new RecordWriter(new RocksTimeSeriesStore(_store), new RecordWriterOptions { Pipeline = Pipeline });
        _writer.Start();
        _raw = RocksDb.Open(new DbOptions().SetCreateIfMissing(true), Path.Combine(_directory, "raw"), new ColumnFamilies());
        _synced = new WriteOptions().SetSync(true);
        _defaultFamily = _raw.GetDefaultColumnFamily();
    }

    [IterationSetup]
    public void NextRecords()
    {
        // New keys every invocation (later rounds of the same devices), generated outside the measurement.
        var first = _round++ * RecordsPerInvocation;
        _records = new TimeSeriesRecord[RecordsPerInvocation];
        for (var i = 0; i < _records.Length; i++)
        {
            _records[i] = Workload.Record(first + i);
        }
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = RecordsPerInvocation)]
    public void RawWriteBatch()
    {
        var key = new byte[256];
        var value = new byte[512];
        var batch = new WriteBatch();
        for (var i = 0; i < _records.Length; i++)
        {
            var record = _records[i];
            var length = Encoding.UTF8.GetBytes(record.Id, key);
            key[length++] = 0;
            BinaryPrimitives.WriteInt64BigEndian(key.AsSpan(length), record.Time.UtcTicks);
            length += 8;
            length += Encoding.UTF8.GetBytes(record.Type, key.AsSpan(length));
            var valueLength = Encoding.UTF8.GetBytes(record.Data, value);
            batch.Put(key.AsSpan(0, length), value.AsSpan(0, valueLength), _defaultFamily!);
            if (batch.Count() == 1_000)
            {
                _raw!.Write(batch, _synced!);
                batch.Dispose();
                batch = new WriteBatch();
            }
        }
        if (batch.Count() > 0)
        {
            _raw!.Write(batch, _synced!);
        }
        batch.Dispose();
    }

    [Benchmark(OperationsPerInvoke = RecordsPerInvocation)]
    public async Task BatchWriter()
    {
        var writer = _writer!;
        var records = _records;
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
        _writer?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _store?.Dispose();
        _raw?.Dispose();
        Directory.Delete(_directory, recursive: true);
    }
}
