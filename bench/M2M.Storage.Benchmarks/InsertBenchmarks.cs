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
/// column family, one synced WriteBatch per 1 000 records; the baseline of the writer-efficiency goal) and
/// against a raw loop of the writer's own rows (<see cref="RawWriteBatchSameRows"/>). Results are per record.
/// </summary>
/// <remarks>
/// Every loop writes with <c>sync = true</c> and the WAL on (the store's default <see cref="Durability.Synced"/>).
/// </remarks>
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 1, iterationCount: 5)]
[MemoryDiagnoser]
public class InsertBenchmarks
{
    public const int RecordsPerInvocation = 200_000;

    private string _directory = "";
    private TimeSeriesRecord[] _records = [];
    private long _round;
    private RocksStore? _store;
    private RocksStore? _rawStore;
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
        _rawStore = RocksStore.Open(Path.Combine(_directory, "raw-store"));
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

    /// <summary>
    /// The rows the writer stores, written by a plain loop: per record a <c>ts</c> put (key and data) and a <c>ts_type</c>
    /// put (key only); per batch the <c>ts_latest</c> put of each series' last record and the month index put. Same
    /// database options, column families and write options as the writer's store, one synced WriteBatch per
    /// <see cref="RecordWriterOptions.MaxBatchSize"/> records (the writer's largest batch), puts in record order.
    /// It shows what the writer's layout costs in RocksDB itself, apart from the writer (queue, encoding, sorting).
    /// </summary>
    [Benchmark(OperationsPerInvoke = RecordsPerInvocation)]
    public void RawWriteBatchSameRows()
    {
        var store = _rawStore!;
        var db = store.Db;
        var series = store.Family(RocksStore.Families.Series);
        var byType = store.Family(RocksStore.Families.SeriesByType);
        var latestFamily = store.Family(RocksStore.Families.SeriesLatest);
        var meta = store.Family(RocksStore.Families.Meta);
        var perBatch = new RecordWriterOptions().MaxBatchSize;
        Span<byte> id = stackalloc byte[TimeSeriesLimits.MaxIdBytes];
        Span<byte> type = stackalloc byte[TimeSeriesLimits.MaxTypeBytes];
        var seriesKey = new byte[SeriesKeys.MaxKeyBytes];
        var typeKey = new byte[SeriesKeys.MaxKeyBytes];
        var value = new byte[SeriesKeys.TimeBytes + 1024];
        var latest = new Dictionary<(string Id, string Type), int>();
        var batch = new WriteBatch();
        uint month = 0;
        for (var i = 0; i < _records.Length; i++)
        {
            var record = _records[i];
            var ticks = record.Time.UtcTicks;
            month = SeriesKeys.MonthOf(ticks);
            var idLength = Encoding.UTF8.GetBytes(record.Id, id);
            var typeLength = Encoding.UTF8.GetBytes(record.Type, type);
            var data = value.AsSpan(SeriesKeys.TimeBytes);
            var dataLength = Encoding.UTF8.GetBytes(record.Data, data);
            SeriesKeys.WriteRecordKeys(seriesKey, typeKey, month, id[..idLength], type[..typeLength], ticks,
                RecordIdentity.Discriminator(data[..dataLength]), out var seriesLength, out var typeKeyLength);
            batch.Put(seriesKey.AsSpan(0, seriesLength), data[..dataLength], series);
            batch.Put(typeKey.AsSpan(0, typeKeyLength), ReadOnlySpan<byte>.Empty, byType);
            latest[(record.Id, record.Type)] = i;
            if ((i + 1) % perBatch == 0 || i == _records.Length - 1)
            {
                foreach (var (key, last) in latest)
                {
                    var newest = _records[last];
                    var length = SeriesKeys.WriteLatestKey(seriesKey, key.Id, key.Type);
                    SeriesKeys.WriteTime(value, newest.Time.UtcTicks);
                    var newestLength = Encoding.UTF8.GetBytes(newest.Data, value.AsSpan(SeriesKeys.TimeBytes));
                    batch.Put(seriesKey.AsSpan(0, length), value.AsSpan(0, SeriesKeys.TimeBytes + newestLength), latestFamily);
                }
                latest.Clear();
                SeriesKeys.WriteMonthIndexKey(seriesKey, month, out var monthLength);
                batch.Put(seriesKey.AsSpan(0, monthLength), ReadOnlySpan<byte>.Empty, meta);
                db.Write(batch, store.WriteOptions);
                batch.Clear();
            }
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
        _rawStore?.Dispose();
        _raw?.Dispose();
        Directory.Delete(_directory, recursive: true);
    }
}
