using System.Net;

namespace M2M.Load.Cli;

/// <summary>What the tool is asked to do.</summary>
public enum LoadCommand
{
    /// <summary>Devices with realistic behaviour at a configurable period.</summary>
    Simulate,

    /// <summary>The same devices as fast as possible (or at <c>--rate</c>) for a duration.</summary>
    Load,

    /// <summary>Many identified idle connections: server memory per connection.</summary>
    Connections,

    /// <summary>Raw RocksDB writes of the same rows: the storage baseline of the end-to-end figures.</summary>
    RocksBaseline,

    /// <summary>Connections announcing large frames and sending them slowly: server memory before, during and after.</summary>
    Flood,

    /// <summary>Commands queued through the HTTP API: latency to the device's socket and to the acknowledgement.</summary>
    Commands,
}

/// <summary>Which protocol the simulated devices speak.</summary>
public enum ProtocolMix
{
    M2mp,
    Alip,

    /// <summary>Even device indexes speak M2MP, odd ones ALIP.</summary>
    Mix,
}

/// <summary>Every option of every command, with the defaults of that command applied.</summary>
public sealed partial record LoadOptions
{
    public LoadCommand Command { get; init; }

    public string Host { get; init; } = "127.0.0.1";

    public int M2mpPort { get; init; } = 3010;

    public int AlipPort { get; init; } = 3050;

    public ProtocolMix Protocol { get; init; } = ProtocolMix.M2mp;

    /// <summary>Active devices (simulate, load; with <c>--then-load</c> for connections).</summary>
    public int Devices { get; init; }

    public string IdentPrefix { get; init; } = "imei:35";

    public int IdentOffset { get; init; }

    /// <summary>When set, every device presents a secret derived from it and its ident (docs/device-authentication.md).</summary>
    public string? SecretSeed { get; init; }

    /// <summary>A delivery barrier after every this many records.</summary>
    public int BarrierEvery { get; init; }

    /// <summary>How long to run; <see cref="TimeSpan.Zero"/> = until Ctrl+C.</summary>
    public TimeSpan Duration { get; init; }

    /// <summary>Simulate: one location and one temperature per device and period.</summary>
    public TimeSpan Period { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Simulate: each period is stretched or shortened by up to this fraction, at random.</summary>
    public double Jitter { get; init; } = 0.2;

    /// <summary>Load: target records/s over all devices; 0 = as fast as the server acknowledges.</summary>
    public double Rate { get; init; }

    /// <summary>Load: barriers a device may have in flight before it waits for an answer.</summary>
    public int Window { get; init; } = 2;

    /// <summary>Simulate: unacknowledged records a device keeps; past it the oldest are dropped (counted).</summary>
    public int MaxUnacked { get; init; } = 100_000;

    /// <summary>Load: records are stamped <see cref="Spacing"/> apart per type from <c>now - History</c> (a device uploading its buffered history).</summary>
    public TimeSpan History { get; init; } = TimeSpan.FromDays(7);

    /// <summary>Load: time between two records of one type of a device (whole seconds, at least 1); a larger one spreads a run's records over months.</summary>
    public TimeSpan Spacing { get; init; } = TimeSpan.FromSeconds(1);

    public string? ReplayFile { get; init; }

    public bool ReplayLoop { get; init; }

    public TimeSpan ReconnectMin { get; init; } = TimeSpan.FromSeconds(1);

    public TimeSpan ReconnectMax { get; init; } = TimeSpan.FromSeconds(30);

    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public TimeSpan IdentTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public int? ServerPid { get; init; }

    /// <summary>Load: write every barrier's answer time and latency to this CSV file.</summary>
    public string? LatencyLog { get; init; }

    public bool Json { get; init; }

    public bool Quiet { get; init; }

    /// <summary>Client source addresses to bind before connecting (to escape the ephemeral-port limit); empty = let the OS pick.</summary>
    public IReadOnlyList<IPAddress> SourceAddresses { get; init; } = [];

    /// <summary>Whether <see cref="SourceAddresses"/> was given explicitly (connections spreads by default).</summary>
    public bool SourceAddressesSet { get; init; }

    /// <summary>Connections: identified idle connections to open.</summary>
    public int Connections { get; init; } = 1000;

    public int ConnectConcurrency { get; init; } = 200;

    /// <summary>Connections: time left for the server to settle before memory is read.</summary>
    public TimeSpan Settle { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>Connections: keep the idle connections open this long after the measurement (before <see cref="ThenLoad"/>).</summary>
    public TimeSpan Hold { get; init; }

    /// <summary>Connections: then run the load with <see cref="Devices"/> active devices while the idle ones stay connected.</summary>
    public bool ThenLoad { get; init; }

    /// <summary>Flood: the total size the frames announce (header included).</summary>
    public int FrameSize { get; init; } = 1024 * 1024;

    /// <summary>Flood: bytes of each frame's body actually sent.</summary>
    public int Send { get; init; } = 256 * 1024;

    /// <summary>Flood: pause between two 8 KiB pieces of the bodies.</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromMilliseconds(20);

    /// <summary>Flood: identify every connection first (the frames are then allowed).</summary>
    public bool Identify { get; init; }

    /// <summary>Flood: how long the server's memory is followed after the connections are closed.</summary>
    public TimeSpan After { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Rocks baseline: rows to write.</summary>
    public long Rows { get; init; } = 1_000_000;

    /// <summary>Rocks baseline: rows per synced write batch.</summary>
    public int SyncEvery { get; init; } = 1000;

    /// <summary>Rocks baseline: database directory (a temporary one, deleted afterwards, when absent).</summary>
    public string? Directory { get; init; }
}
