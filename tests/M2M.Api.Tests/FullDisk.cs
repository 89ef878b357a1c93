using System.Diagnostics;
using System.Globalization;
using M2M.Storage.Rocks;
using M2M.Storage.TimeSeries;
using M2M.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace M2M.Api.Tests;

/// <summary>
/// A data directory whose disk can be filled and freed. Where this process may mount file systems
/// (root on Linux), it is a real one: a small <c>tmpfs</c> mounted on the directory, filled by a
/// filler file until the kernel answers ENOSPC, freed by deleting it. Elsewhere the fault is injected
/// instead: the time-series store throws the ENOSPC <see cref="IOException"/> while the disk is "full",
/// and uploads find no free space (the reserve is set above any disk). <see cref="Mode"/> says which;
/// <c>M2M_TEST_FULLDISK=inject</c> forces the fallback.
/// </summary>
public sealed class FullDisk : IAsyncDisposable
{
    private readonly TempDirectory _data;
    private readonly string? _mount;
    private readonly InjectedFault? _fault;
    private string? _filler;

    private FullDisk(TempDirectory data, string? mount, long size)
    {
        _data = data;
        _mount = mount;
        Size = size;
        _fault = mount is null ? new InjectedFault() : null;
    }

    /// <summary>Whether the disk is a real full file system (<c>tmpfs</c>) or an injected fault.</summary>
    public string Mode => _mount is not null ? $"real tmpfs of {Size >> 20} MiB at {_mount}" : "fault-injecting time-series store (mount not permitted here)";

    public bool IsReal => _mount is not null;

    public TempDirectory Data => _data;

    public long Size { get; }

    /// <summary>Server arguments that fit a small disk: small memtables (RocksDB resumes once that much is free again), small reserve, quick retries.</summary>
    public string[] ServerArgs(long reservedFreeBytes) =>
    [
        // The disk that fills is the embedded database's: these tests run on RocksDB whatever M2M_TEST_BACKEND says.
        "--M2M:Storage:Backend", "rocks",
        "--M2M:Storage:Rocks:WriteBufferBytes", (4L << 20).ToString(CultureInfo.InvariantCulture),
        "--M2M:Storage:Rocks:BlockCacheBytes", (8L << 20).ToString(CultureInfo.InvariantCulture),
        "--M2M:Storage:Writer:RetryMaxDelay", "00:00:01",
        "--M2M:Storage:ReservedFreeBytes", (IsReal ? reservedFreeBytes : long.MaxValue / 2).ToString(CultureInfo.InvariantCulture),
    ];

    /// <summary>Fault injection when the disk is not real (nothing otherwise).</summary>
    public void Configure(WebApplicationBuilder builder)
    {
        if (_fault is { } fault)
        {
            builder.Services.Replace(ServiceDescriptor.Singleton<ITimeSeriesStore>(sp =>
                new FaultyTimeSeriesStore(new RocksTimeSeriesStore(sp.GetRequiredService<RocksStore>()), fault)));
        }
    }

    /// <summary>A real <c>tmpfs</c> of <paramref name="size"/> bytes when this process may mount, else the injected fault.</summary>
    public static async Task<FullDisk> CreateAsync(long size)
    {
        var data = new TempDirectory("m2m-fulldisk");
        // M2M_TEST_FULLDISK=inject runs the fallback where a real disk could be used (to check it).
        if (OperatingSystem.IsLinux() && Environment.UserName == "root" && Environment.GetEnvironmentVariable("M2M_TEST_FULLDISK") != "inject"
            && await RunAsync("mount", "-t", "tmpfs", "-o", $"size={size}", "tmpfs", data.Path) == 0)
        {
            return new FullDisk(data, data.Path, size);
        }
        return new FullDisk(data, null, size);
    }

    /// <summary>Fills the disk: writes a file until the kernel refuses (ENOSPC).</summary>
    public async Task FillAsync()
    {
        if (_fault is not null)
        {
            _fault.Full = true;
            return;
        }
        _filler = Path.Combine(_mount!, "filler");
        await using var file = new FileStream(_filler, FileMode.Create, FileAccess.Write, FileShare.None, 1, FileOptions.None);
        foreach (var chunk in new[] { 1 << 20, 4096, 1 })
        {
            var bytes = new byte[chunk];
            try
            {
                while (true)
                {
                    file.Write(bytes);
                    file.Flush();
                }
            }
            catch (IOException e) when (M2M.Storage.StorageErrors.IsOutOfSpace(e))
            {
                // Full at this granularity; try the next, smaller one.
            }
        }
    }

    /// <summary>Frees what <see cref="FillAsync"/> took.</summary>
    public Task FreeAsync()
    {
        if (_fault is not null)
        {
            _fault.Full = false;
        }
        else if (_filler is not null)
        {
            File.Delete(_filler);
            _filler = null;
        }
        return Task.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        if (_mount is not null)
        {
            // Lazy: the server's files may still be closing.
            await RunAsync("umount", "-l", _mount);
        }
        _data.Dispose();
    }

    private static async Task<int> RunAsync(string command, params string[] args)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo(command, args) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false })!;
            await process.WaitForExitAsync();
            return process.ExitCode;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return -1;
        }
    }

    private sealed class InjectedFault
    {
        public volatile bool Full;
    }

    /// <summary>The real store, whose writes fail as on a full disk while the fault is on.</summary>
    private sealed class FaultyTimeSeriesStore(ITimeSeriesStore inner, InjectedFault fault) : ITimeSeriesStore
    {
        private ValueTask? Failure => fault.Full ? ValueTask.FromException(new IOException("No space left on device", 28)) : null;

        public ValueTask SaveAsync(TimeSeriesRecord record, CancellationToken cancellationToken = default) => Failure ?? inner.SaveAsync(record, cancellationToken);
        public ValueTask SaveManyAsync(IReadOnlyList<TimeSeriesRecord> records, CancellationToken cancellationToken = default) => Failure ?? inner.SaveManyAsync(records, cancellationToken);
        public ValueTask SaveManyAsync(IReadOnlyList<TimeSeriesRecord> records, IReadOnlyList<M2M.Storage.Forwarding.FeedGroup> feed, CancellationToken cancellationToken = default) => Failure ?? inner.SaveManyAsync(records, feed, cancellationToken);
        public ValueTask<TimeSeriesPage> QueryAsync(TimeSeriesQuery query, CancellationToken cancellationToken = default) => inner.QueryAsync(query, cancellationToken);
        public ValueTask<IReadOnlyList<TimeSeriesRecord>> GetLatestAsync(string id, CancellationToken cancellationToken = default) => inner.GetLatestAsync(id, cancellationToken);
        public ValueTask<IReadOnlyList<TimeSeriesRecord>> GetAsync(string id, string type, DateTimeOffset time, CancellationToken cancellationToken = default) => inner.GetAsync(id, type, time, cancellationToken);
        public ValueTask<int> DeleteAsync(string id, string type, DateTimeOffset time, CancellationToken cancellationToken = default) => inner.DeleteAsync(id, type, time, cancellationToken);
        public ValueTask<bool> DeleteRecordAsync(TimeSeriesRecord record, CancellationToken cancellationToken = default) => inner.DeleteRecordAsync(record, cancellationToken);
        public ValueTask DeleteRangeAsync(string id, string? type, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken = default) => inner.DeleteRangeAsync(id, type, from, to, cancellationToken);
        public ValueTask<long> ExpireRangeAsync(string id, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken = default) => inner.ExpireRangeAsync(id, from, to, cancellationToken);
        public ValueTask<IReadOnlyList<DateOnly>> GetMonthsAsync(CancellationToken cancellationToken = default) => inner.GetMonthsAsync(cancellationToken);
        public ValueTask DropMonthAsync(DateOnly month, CancellationToken cancellationToken = default) => inner.DropMonthAsync(month, cancellationToken);
    }
}
