using System.Net;
using System.Net.Sockets;
using M2M.Load.Cli;
using M2M.Load.Simulation;
using M2M.Load.Stats;

namespace M2M.Load.Runs;

/// <summary>Builds the devices and the plan of a run from the options.</summary>
public static class Fleet
{
    /// <summary>The server's address: an IP as given, or the first IPv4 address of a host name.</summary>
    /// <exception cref="ArgumentException">The name does not resolve to an IPv4 address.</exception>
    public static async Task<IPAddress> ResolveAsync(string host, CancellationToken cancellationToken)
    {
        if (IPAddress.TryParse(host, out var ip))
        {
            return ip;
        }
        try
        {
            var addresses = await Dns.GetHostAddressesAsync(host, AddressFamily.InterNetwork, cancellationToken);
            return addresses.Length > 0 ? addresses[0] : throw new ArgumentException($"'{host}' has no IPv4 address.");
        }
        catch (SocketException e)
        {
            throw new ArgumentException($"'{host}' does not resolve: {e.Message}", e);
        }
    }

    public static DevicePlan Plan(LoadOptions o, IPAddress server, DeviceMode mode, RunCounters counters, int activeDevices, IReadOnlyList<IPAddress> sources) => new()
    {
        M2mpEndPoint = new IPEndPoint(server, o.M2mpPort),
        AlipEndPoint = new IPEndPoint(server, o.AlipPort),
        Mode = mode,
        Counters = counters,
        BarrierEvery = o.BarrierEvery,
        Period = o.Period,
        Jitter = o.Jitter,
        RatePerDevice = o.Rate > 0 && activeDevices > 0 ? o.Rate / activeDevices : 0,
        Window = o.Window,
        MaxUnacked = mode == DeviceMode.Flat ? Math.Max(o.MaxUnacked, o.BarrierEvery * (o.Window + 1)) : o.MaxUnacked,
        HistoryStart = DateTimeOffset.UtcNow.ToUnixTimeSeconds() - (long)o.History.TotalSeconds,
        SpacingSeconds = (long)o.Spacing.TotalSeconds,
        Replay = o.ReplayFile is null ? null : ReplayFile.Load(o.ReplayFile),
        ReplayLoop = o.ReplayLoop,
        ReplayStart = DateTimeOffset.UtcNow,
        ReconnectMin = o.ReconnectMin,
        ReconnectMax = o.ReconnectMax,
        ConnectTimeout = o.ConnectTimeout,
        IdentTimeout = o.IdentTimeout,
        SourceAddresses = sources,
        SecretSeed = o.SecretSeed,
    };

    /// <summary><paramref name="count"/> devices with indexes from <paramref name="firstIndex"/>.</summary>
    public static List<SimulatedDevice> Create(LoadOptions o, DevicePlan plan, int count, int firstIndex)
    {
        var devices = new List<SimulatedDevice>(count);
        for (var i = 0; i < count; i++)
        {
            var index = firstIndex + i;
            var ident = DevicePlan.Ident(o.IdentPrefix, index);
            devices.Add(DevicePlan.IsAlip(o.Protocol, index) ? new AlipDevice(ident, index, plan) : new M2mpDevice(ident, index, plan));
        }
        return devices;
    }

    /// <summary>The server process for memory/CPU figures: <c>--server-pid</c>, or the local listener on a device port.</summary>
    public static int? FindServer(LoadOptions o, IPAddress server)
    {
        if (o.ServerPid is { } pid)
        {
            return pid;
        }
        if (!IPAddress.IsLoopback(server) || !OperatingSystem.IsLinux())
        {
            return null;
        }
        return ProcessProbe.FindListener(o.Protocol == ProtocolMix.Alip ? o.AlipPort : o.M2mpPort);
    }
}
