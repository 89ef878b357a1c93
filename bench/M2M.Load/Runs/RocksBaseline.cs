using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using M2M.Load.Cli;
using RocksDbSharp;

namespace M2M.Load.Runs;

/// <summary>
/// The storage baseline: the rows the load stores, written straight into RocksDB with
/// <see cref="WriteBatch"/> and a synced write every <c>--sync-every</c> rows — no protocol, no
/// session, no bus, no secondary indexes. The end-to-end figures are read against it.
/// </summary>
public static class RocksBaseline
{
    public static JsonObject Run(LoadOptions o, TextWriter progress, CancellationToken cancel)
    {
        var directory = o.Directory ?? Path.Combine(Path.GetTempPath(), $"m2m-rocks-baseline-{Guid.NewGuid():N}");
        var temporary = o.Directory is null;
        try
        {
            return Write(o, directory, progress, cancel);
        }
        finally
        {
            if (temporary)
            {
                try
                {
                    Directory.Delete(directory, recursive: true);
                }
                catch (IOException)
                {
                }
            }
        }
    }

    private static JsonObject Write(LoadOptions o, string directory, TextWriter progress, CancellationToken cancel)
    {
        var devices = Math.Max(1, o.Devices);
        var ids = Enumerable.Range(0, devices).Select(i => Encoding.UTF8.GetBytes($"dev-{DeviceId(i)}")).ToArray();
        var types = new[] { "sen:loc"u8.ToArray(), "sen:temp"u8.ToArray() };
        var start = DateTimeOffset.UtcNow.AddDays(-7).ToUnixTimeSeconds();

        var dbOptions = new DbOptions().SetCreateIfMissing(true);
        using var db = RocksDb.Open(dbOptions, directory);
        var synced = new WriteOptions().SetSync(true);
        using var batch = new WriteBatch();
        Span<byte> key = stackalloc byte[128];
        Span<byte> value = stackalloc byte[128];

        var clock = Stopwatch.StartNew();
        var lastReport = clock.Elapsed;
        long syncs = 0;
        long written = 0;
        for (long i = 0; i < o.Rows && !cancel.IsCancellationRequested; i++)
        {
            var device = (int)(i % devices);
            var n = i / devices;
            var kind = (int)(n & 1);
            var time = start + n / 2;
            // key: id \0 type \0 time (big-endian ticks), like a (series, type, time) index
            var id = ids[device];
            id.CopyTo(key);
            var pos = id.Length;
            key[pos++] = 0;
            types[kind].CopyTo(key[pos..]);
            pos += types[kind].Length;
            key[pos++] = 0;
            BinaryPrimitives.WriteInt64BigEndian(key[pos..], DateTimeOffset.FromUnixTimeSeconds(time).UtcTicks);
            pos += 8;
            var length = kind == 0
                ? Format(value, $"{{\"lat\":{48.85 + device * 1e-4:0.#####},\"lon\":{2.35 + n * 1e-6:0.#####},\"spd\":{n % 120},\"alt\":35}}")
                : Format(value, $"\"{15 + n % 100 / 10.0:0.0}\"");
            batch.Put(key[..pos], value[..length]);
            written++;
            if (written % o.SyncEvery == 0)
            {
                db.Write(batch, synced);
                batch.Clear();
                syncs++;
            }
            if (!o.Quiet && clock.Elapsed - lastReport >= TimeSpan.FromSeconds(1))
            {
                lastReport = clock.Elapsed;
                progress.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{clock.Elapsed.TotalSeconds,5:0}s] {written:#,0} rows, {written / clock.Elapsed.TotalSeconds:#,0} rows/s"));
            }
        }
        if (batch.Count() > 0)
        {
            db.Write(batch, synced);
            syncs++;
        }
        var elapsed = clock.Elapsed;
        return new JsonObject
        {
            ["command"] = "rocks-baseline",
            ["rows"] = written,
            ["series"] = devices,
            ["sync_every"] = o.SyncEvery,
            ["synced_writes"] = syncs,
            ["elapsed_s"] = Report.Round(elapsed.TotalSeconds),
            ["rows_per_s"] = Math.Round(written / elapsed.TotalSeconds),
            ["directory"] = o.Directory,
        };
    }

    private static int Format(Span<byte> destination, [System.Runtime.CompilerServices.InterpolatedStringHandlerArgument(nameof(destination))] ref System.Text.Unicode.Utf8.TryWriteInterpolatedStringHandler handler) =>
        System.Text.Unicode.Utf8.TryWrite(destination, ref handler, out var written) ? written : throw new InvalidOperationException("value buffer too small");

    /// <summary>A stable UUID per device index (the shape of the ids the server derives from idents).</summary>
    private static Guid DeviceId(int index)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes($"m2m-load-{index}"), hash);
        return new Guid(hash[..16]);
    }
}
