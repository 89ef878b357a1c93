using M2M.Storage.Entities;
using M2M.Storage.Files;
using M2M.Storage.Registry;
using M2M.Storage.Rocks.Files;
using M2M.Storage.Rocks.Registry;
using M2M.Testing;

namespace M2M.Storage.Rocks.Tests;

/// <summary>A real RocksDB database in a temporary directory, with the registry stores over it; can be reopened (crash tests).</summary>
public sealed class RocksBackend : IDisposable
{
    private readonly TempDirectory _directory = new("m2m-registry");

    public RocksBackend(TimeProvider? time = null)
    {
        Time = time ?? TimeProvider.System;
        Open();
    }

    public TimeProvider Time { get; }

    public RocksStore Store { get; private set; } = null!;

    public RocksRegistry Registry { get; private set; } = null!;

    public RocksFileStore Files { get; private set; } = null!;

    public DomainStore Domains { get; private set; } = null!;

    public UserStore Users { get; private set; } = null!;

    public DeviceStore Devices { get; private set; } = null!;

    public FirmwareStore Firmware { get; private set; } = null!;

    private void Open()
    {
        // WAL without fsync: survives a killed process (what the crash tests simulate) and keeps the suite fast.
        Store = RocksStore.Open(_directory.Path, new RocksStoreOptions
        {
            Durability = Durability.ProcessCrash,
            BlockCacheBytes = 8 << 20,
            WriteBufferBytes = 8 << 20,
        });
        Registry = new RocksRegistry(Store, Time);
        Files = new RocksFileStore(Registry);
        Domains = new DomainStore(Registry, Time);
        Users = new UserStore(Registry, Domains, Time);
        Devices = new DeviceStore(Registry, Domains, Time);
        Firmware = new FirmwareStore(Registry, Files, Time);
    }

    /// <summary>Closes and reopens the database, as a process restart after a crash would.</summary>
    public void Reopen()
    {
        Store.Dispose();
        Open();
    }

    /// <summary>Every key of a column family that starts with <paramref name="prefix"/> (raw layout checks).</summary>
    public List<byte[]> RawKeys(string family, string prefix)
    {
        var start = System.Text.Encoding.UTF8.GetBytes(prefix);
        var keys = new List<byte[]>();
        using var it = Store.Db.NewIterator(Store.Family(family));
        for (it.Seek(start); it.Valid(); it.Next())
        {
            var key = it.Key();
            if (!key.AsSpan().StartsWith(start))
            {
                break;
            }
            keys.Add(key);
        }
        return keys;
    }

    public void Dispose()
    {
        Store.Dispose();
        _directory.Dispose();
    }
}

/// <summary>Thrown by fault hooks to stop a multi-step operation as a crash would.</summary>
public sealed class SimulatedCrashException(string step) : Exception($"Simulated crash at {step}.");
