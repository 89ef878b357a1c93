using System.Net;
using M2M.Load.Cli;
using M2M.Load.Stats;

namespace M2M.Load.Simulation;

/// <summary>How a device sends data once identified.</summary>
public enum DeviceMode
{
    /// <summary>One location and one temperature per period (with jitter).</summary>
    Periodic,

    /// <summary>As fast as the barrier window allows, or at the per-device share of <c>--rate</c>.</summary>
    Flat,

    /// <summary>Identify, then send nothing (still answer the server).</summary>
    Idle,

    /// <summary>Replay the lines of a CSV file at their shifted times.</summary>
    Replay,
}

/// <summary>What every device of a run shares: where to connect, how to behave, where to count.</summary>
public sealed class DevicePlan
{
    public required IPEndPoint M2mpEndPoint { get; init; }

    public required IPEndPoint AlipEndPoint { get; init; }

    public required DeviceMode Mode { get; init; }

    public required RunCounters Counters { get; init; }

    public int BarrierEvery { get; init; } = 100;

    public TimeSpan Period { get; init; } = TimeSpan.FromSeconds(10);

    public double Jitter { get; init; } = 0.2;

    /// <summary>Records/s of one device in <see cref="DeviceMode.Flat"/>; 0 = as fast as possible.</summary>
    public double RatePerDevice { get; init; }

    public int Window { get; init; } = 2;

    public int MaxUnacked { get; init; } = 100_000;

    /// <summary>Flat mode: the first record time (unix seconds).</summary>
    public long HistoryStart { get; init; } = DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 7 * 86400;

    /// <summary>Flat mode: seconds between two records of one type.</summary>
    public long SpacingSeconds { get; init; } = 1;

    public ReplayFile? Replay { get; init; }

    public bool ReplayLoop { get; init; }

    public DateTimeOffset ReplayStart { get; init; } = DateTimeOffset.UtcNow;

    public TimeSpan ReconnectMin { get; init; } = TimeSpan.FromSeconds(1);

    public TimeSpan ReconnectMax { get; init; } = TimeSpan.FromSeconds(30);

    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public TimeSpan IdentTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>At the end of a run, how long a device waits for its barriers in flight.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Source addresses handed out in turn (empty = the OS picks).</summary>
    public IReadOnlyList<IPAddress> SourceAddresses { get; init; } = [];

    /// <summary>Keep every acknowledged record on its device (tests compare them with the database).</summary>
    public bool KeepAckedRecords { get; init; }

    /// <summary>
    /// Called with each command's text (M2MP: its lines joined with <c>\n</c>) and the
    /// <see cref="System.Diagnostics.Stopwatch"/> timestamp at which it was read from the socket,
    /// before the device acknowledges it (<c>m2m-load commands</c> measures delivery with it).
    /// </summary>
    public Action<string, long>? CommandReceived { get; set; }

    /// <summary>Seed of the devices' secrets; <c>null</c>: devices identify with their ident only.</summary>
    public string? SecretSeed { get; init; }

    /// <summary>What device <paramref name="ident"/> sends to identify: its ident, then its secret when the plan has a seed.</summary>
    public string Login(string ident) => SecretSeed is null ? ident : $"{ident} {Secret(SecretSeed, ident)}";

    /// <summary>The secret of <paramref name="ident"/>: base64url(HMAC-SHA256(seed, ident)), 43 characters.</summary>
    public static string Secret(string seed, string ident) =>
        System.Buffers.Text.Base64Url.EncodeToString(System.Security.Cryptography.HMACSHA256.HashData(
            System.Text.Encoding.UTF8.GetBytes(seed), System.Text.Encoding.UTF8.GetBytes(ident)));

    /// <summary>The idents of device <paramref name="index"/>.</summary>
    public static string Ident(string prefix, int index) => $"{prefix}{index:D10}";

    /// <summary>Device <paramref name="index"/>'s protocol under <paramref name="mix"/>.</summary>
    public static bool IsAlip(ProtocolMix mix, int index) => mix == ProtocolMix.Alip || (mix == ProtocolMix.Mix && index % 2 == 1);
}
