using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using M2M.Storage.Entities;
using M2M.Storage.Registry;
using M2M.Storage.Rocks;
using M2M.Storage.Rocks.Registry;

namespace M2M.Storage.Benchmarks;

/// <summary>
/// First identification of new devices (<see cref="DeviceStore.GetOrCreateByIdentAsync"/> with
/// auto-registration) on a synced RocksDB store, one device after the other: the cost of creation's
/// commits. <c>--filter *DeviceCreationBenchmarks*</c>.
/// </summary>
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 1, iterationCount: 10)]
public class DeviceCreationBenchmarks
{
    private const int Devices = 200;

    private string _directory = null!;
    private RocksStore _store = null!;
    private DeviceStore _devices = null!;
    private int _next;

    [GlobalSetup]
    public void Setup()
    {
        _directory = Path.Combine(Path.GetTempPath(), "m2m-bench-devices-" + Guid.NewGuid().ToString("N"));
        _store = RocksStore.Open(_directory);
        var registry = new RocksRegistry(_store);
        var domains = new DomainStore(registry);
        _devices = new DeviceStore(registry, domains);
        domains.EnsureDefaultAsync().AsTask().GetAwaiter().GetResult();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _store.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [Benchmark(OperationsPerInvoke = Devices)]
    public async Task CreateNewDeviceByIdent()
    {
        for (var i = 0; i < Devices; i++)
        {
            _ = await _devices.GetOrCreateByIdentAsync($"imei:{Interlocked.Increment(ref _next)}", autoRegister: true);
        }
    }
}
