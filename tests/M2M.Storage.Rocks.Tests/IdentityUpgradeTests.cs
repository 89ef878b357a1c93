using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using M2M.Storage.Rocks;
using M2M.Storage.TimeSeries;
using M2M.Testing;
using Microsoft.Extensions.Logging;
using RocksDbSharp;

namespace M2M.Storage.Rocks.Tests;

/// <summary>
/// Storage format 2 → 3 (content discriminators in the time-series keys): a database written by the format-2
/// code is rewritten on open, every record keeps its time and data and is queryable, and an upgrade killed
/// half-way completes on the next open.
/// </summary>
public sealed class IdentityUpgradeTests : IDisposable
{
    private readonly TempDirectory _directory = new("m2m-upgrade3");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _directory.Dispose();

    private static readonly string[] Types = ["sen:temp", "sen:loc", "_server"];

    /// <summary>
    /// Records as the format-2 code stored them: three series over three months, types in rotation, other
    /// types at the same instant, and same-type records one tick apart as the old ingest tie-break made them.
    /// </summary>
    private static List<TimeSeriesRecord> OldRecords(int count)
    {
        var records = new List<TimeSeriesRecord>(count);
        var start = new DateTimeOffset(2026, 1, 30, 0, 0, 0, TimeSpan.Zero);
        for (var i = 0; records.Count < count; i++)
        {
            var id = $"dev-{i % 3}";
            var time = start + TimeSpan.FromMinutes(7 * (i / 3));
            var type = Types[i / 3 % Types.Length];
            records.Add(new TimeSeriesRecord(id, type, time, $$"""{"n":{{i}}}"""));
            if (i % 40 == 0)
            {
                records.Add(new TimeSeriesRecord(id, Types[(i / 3 + 1) % Types.Length], time, $$"""{"same_instant":{{i}}}"""));
            }
            if (i % 50 == 1)
            {
                records.Add(new TimeSeriesRecord(id, type, time.AddTicks(1), $$"""{"tie_break":{{i}}}"""));
            }
        }
        return records;
    }

    /// <summary>Writes <paramref name="records"/> with the format-2 key layout and stores version 2.</summary>
    private void WriteFormat2(IReadOnlyList<TimeSeriesRecord> records)
    {
        using var store = RocksStore.Open(_directory.Path);
        var ts = store.Family(RocksStore.Families.Series);
        var byType = store.Family(RocksStore.Families.SeriesByType);
        var latest = store.Family(RocksStore.Families.SeriesLatest);
        var meta = store.Family(RocksStore.Families.Meta);
        using var batch = new WriteBatch();
        foreach (var r in records)
        {
            var month = Month(r.Time);
            batch.Put((byte[])[.. month, .. U(r.Id), 0, .. Time(r.Time), .. U(r.Type)], U(r.Data), ts);
            batch.Put((byte[])[.. month, .. U(r.Id), 0, .. U(r.Type), 0, .. Time(r.Time)], Array.Empty<byte>(), byType);
            batch.Put((byte[])[.. "ts/month/"u8, .. month], Array.Empty<byte>(), meta);
        }
        foreach (var r in LatestByTime(records))
        {
            batch.Put((byte[])[.. U(r.Id), 0, .. U(r.Type)], (byte[])[.. Time(r.Time), .. U(r.Data)], latest);
        }
        store.Db.Write(batch);
        store.WriteFormatVersion(2);
    }

    private static IEnumerable<TimeSeriesRecord> LatestByTime(IEnumerable<TimeSeriesRecord> records) =>
        records.GroupBy(r => (r.Id, r.Type)).Select(g => g.MaxBy(r => r.Time));

    [Fact]
    public async Task Format_2_database_is_upgraded_and_every_record_reads_back_with_its_time_and_data()
    {
        var records = OldRecords(30_000);
        WriteFormat2(records);
        var logger = new ListLogger();

        using var store = RocksStore.Open(_directory.Path, new RocksStoreOptions { UpgradeBatchRecords = 1_000 }, logger);

        Assert.Equal(3, store.StoredFormatVersion);
        Assert.Contains(logger.Lines, l => l.Contains($"{records.Count} records rewritten, 0 already in the new layout, 0 orphan", StringComparison.Ordinal));
        var (oldKeys, newKeys) = CountKeyShapes(store.Db, store.Family(RocksStore.Families.Series));
        Assert.Equal((0, records.Count), (oldKeys, newKeys));
        await AssertHoldsExactlyAsync(new RocksTimeSeriesStore(store), records);
    }

    [Fact]
    public async Task Upgraded_records_keep_their_identity_for_resends_corrections_and_deletions()
    {
        var records = OldRecords(3_000);
        WriteFormat2(records);
        using var store = RocksStore.Open(_directory.Path);
        var series = new RocksTimeSeriesStore(store);
        var old = records[1234];

        // The same record resent after the upgrade: still one. Other data at its instant: a second record.
        await series.SaveAsync(old, Ct);
        var correction = old with { Data = """{"corrected":true}""" };
        await series.SaveAsync(correction, Ct);

        Assert.Equal(new[] { old, correction }.OrderBy(r => RecordIdentity.Discriminator(r.Data)), await series.GetAsync(old.Id, old.Type, old.Time, Ct));
        Assert.True(await series.DeleteRecordAsync(old, Ct));
        Assert.Equal([correction], await series.GetAsync(old.Id, old.Type, old.Time, Ct));
        await AssertHoldsExactlyAsync(series, [.. records.Where(r => r != old), correction]);
    }

    [Fact]
    public async Task Upgrade_killed_half_way_completes_on_the_next_open()
    {
        var records = OldRecords(20_000);
        WriteFormat2(records);

        // The child upgrades in batches of 500 and SIGKILLs itself after the 5th committed batch.
        var output = await RunChildAsync("upgrade", _directory.Path, "500", "5");
        Assert.Contains("killing", output);
        Assert.DoesNotContain("upgrade completed", output);

        // Really half-way: old and new keys side by side, progress recorded, version still 2.
        using (var raw = OpenRaw(_directory.Path, out var families))
        {
            var (oldKeys, newKeys) = CountKeyShapes(raw, families[RocksStore.Families.Series]);
            Assert.Equal(2_500, newKeys);
            Assert.Equal(records.Count - 2_500, oldKeys);
            Assert.NotNull(raw.Get("upgrade/3/ts"u8.ToArray(), families[RocksStore.Families.Meta]));
            Assert.Equal(2, BinaryPrimitives.ReadInt32LittleEndian(raw.Get("format_version"u8.ToArray(), families[RocksStore.Families.Meta])));
        }

        var logger = new ListLogger();
        using var store = RocksStore.Open(_directory.Path, new RocksStoreOptions { UpgradeBatchRecords = 700 }, logger);

        Assert.Equal(3, store.StoredFormatVersion);
        Assert.Contains(logger.Lines, l => l.Contains("resuming", StringComparison.Ordinal));
        Assert.Contains(logger.Lines, l => l.Contains($"{records.Count - 2_500} records rewritten", StringComparison.Ordinal));
        Assert.Null(store.Db.Get("upgrade/3/ts"u8.ToArray(), store.Family(RocksStore.Families.Meta)));
        Assert.Equal((0, records.Count), CountKeyShapes(store.Db, store.Family(RocksStore.Families.Series)));
        await AssertHoldsExactlyAsync(new RocksTimeSeriesStore(store), records);
    }

    /// <summary>Every record, nothing else: queries by id and by type in both orders (paged), latest values, gets.</summary>
    private static async Task AssertHoldsExactlyAsync(RocksTimeSeriesStore series, IReadOnlyList<TimeSeriesRecord> expected)
    {
        foreach (var group in expected.GroupBy(r => r.Id))
        {
            foreach (var descending in new[] { true, false })
            {
                var ordered = group.OrderBy(r => r.Time.UtcTicks).ThenBy(r => r.Type, StringComparer.Ordinal).ThenBy(r => RecordIdentity.Discriminator(r.Data)).ToList();
                if (descending)
                {
                    ordered.Reverse();
                }
                Assert.Equal(ordered, await ReadAllAsync(series, new TimeSeriesQuery(group.Key, Descending: descending, Limit: 997)));
                foreach (var type in Types)
                {
                    Assert.Equal(ordered.Where(r => r.Type == type), await ReadAllAsync(series, new TimeSeriesQuery(group.Key, type, Descending: descending, Limit: 997)));
                }
            }
            var latest = group.GroupBy(r => r.Type).Select(g => g.MaxBy(r => (r.Time.UtcTicks, RecordIdentity.Discriminator(r.Data)))).OrderBy(r => r.Type, StringComparer.Ordinal);
            Assert.Equal(latest, (await series.GetLatestAsync(group.Key, Ct)).OrderBy(r => r.Type, StringComparer.Ordinal));
        }
        for (var i = 0; i < expected.Count; i += 97)
        {
            var r = expected[i];
            Assert.Contains(r, await series.GetAsync(r.Id, r.Type, r.Time, Ct));
        }
    }

    private static async Task<List<TimeSeriesRecord>> ReadAllAsync(RocksTimeSeriesStore series, TimeSeriesQuery query)
    {
        var all = new List<TimeSeriesRecord>();
        string? continuation = null;
        do
        {
            var page = await series.QueryAsync(query with { Continuation = continuation }, Ct);
            all.AddRange(page.Items);
            continuation = page.Continuation;
        }
        while (continuation is not null);
        return all;
    }

    /// <summary>(format-2 keys, format-3 keys) of <c>ts</c>: a format-3 key has a 0x00 and 8 bytes after the type.</summary>
    private static (int Old, int New) CountKeyShapes(RocksDb db, ColumnFamilyHandle family)
    {
        int old = 0, updated = 0;
        using var iterator = db.NewIterator(family);
        for (iterator.SeekToFirst(); iterator.Valid(); iterator.Next())
        {
            var key = iterator.GetKeySpan();
            var idEnd = 4 + key[4..].IndexOf((byte)0);
            var tail = key[(idEnd + 1 + 8)..];
            if (tail.Contains((byte)0))
            {
                Assert.Equal(0, tail[^9]);
                updated++;
            }
            else
            {
                old++;
            }
        }
        return (old, updated);
    }

    private static RocksDb OpenRaw(string path, out Dictionary<string, ColumnFamilyHandle> families)
    {
        var columnFamilies = new ColumnFamilies();
        foreach (var name in RocksStore.Families.All)
        {
            columnFamilies.Add(name, new ColumnFamilyOptions());
        }
        var db = RocksDb.Open(new DbOptions(), path, columnFamilies);
        families = RocksStore.Families.All.ToDictionary(n => n, db.GetColumnFamily);
        return db;
    }

    private static async Task<string> RunChildAsync(params string[] args)
    {
        using var child = Process.Start(new ProcessStartInfo(CrashTests.ChildExecutable(), args)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        })!;
        var output = child.StandardOutput.ReadToEndAsync(Ct);
        var error = child.StandardError.ReadToEndAsync(Ct);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromMinutes(2));
        try
        {
            await child.WaitForExitAsync(timeout.Token);
        }
        finally
        {
            if (!child.HasExited)
            {
                child.Kill(entireProcessTree: true);
            }
        }
        Assert.NotEqual(0, child.ExitCode);
        return await output + await error;
    }

    private static byte[] U(string s) => Encoding.UTF8.GetBytes(s);

    private static byte[] Month(DateTimeOffset time)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, (uint)(time.UtcDateTime.Year * 100 + time.UtcDateTime.Month));
        return bytes;
    }

    private static byte[] Time(DateTimeOffset time)
    {
        var bytes = new byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, (ulong)time.UtcTicks ^ 0x8000_0000_0000_0000UL);
        return bytes;
    }

    /// <summary>Keeps every formatted log line.</summary>
    private sealed class ListLogger : ILogger
    {
        public List<string> Lines { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Lines)
            {
                Lines.Add(formatter(state, exception));
            }
        }
    }
}
