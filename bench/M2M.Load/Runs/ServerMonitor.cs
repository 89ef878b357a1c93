using System.Diagnostics;
using M2M.Load.Stats;

namespace M2M.Load.Runs;

/// <summary>Samples the server's RSS and CPU (when it runs locally) and this tool's own CPU.</summary>
public sealed class ServerMonitor(int? pid)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private TimeSpan _lastWall;
    private TimeSpan? _lastServerCpu = pid is { } p ? ProcessProbe.ReadCpuTime(p) : null;
    private TimeSpan _lastClientCpu = Process.GetCurrentProcess().TotalProcessorTime;

    public int? Pid { get; } = pid;

    public long? PeakRss { get; private set; }

    public long? Rss => Pid is { } p ? ProcessProbe.ReadRss(p) : null;

    /// <summary>CPU of the server and of this tool since the previous call, in % of one core.</summary>
    public (double? Server, double Client) SampleCpu()
    {
        var wall = _clock.Elapsed;
        var span = (wall - _lastWall).TotalSeconds;
        _lastWall = wall;
        var clientCpu = Process.GetCurrentProcess().TotalProcessorTime;
        var client = span > 0 ? (clientCpu - _lastClientCpu).TotalSeconds / span * 100 : 0;
        _lastClientCpu = clientCpu;
        double? server = null;
        if (Pid is { } p && ProcessProbe.ReadCpuTime(p) is { } serverCpu)
        {
            if (_lastServerCpu is { } last && span > 0)
            {
                server = (serverCpu - last).TotalSeconds / span * 100;
            }
            _lastServerCpu = serverCpu;
        }
        return (server, client);
    }

    /// <summary>Reads the RSS and keeps the peak.</summary>
    public long? SampleRss()
    {
        var rss = Rss;
        if (rss is { } r && (PeakRss is null || r > PeakRss))
        {
            PeakRss = r;
        }
        return rss;
    }

    /// <summary>A CPU window: call <see cref="Start"/> then <see cref="Stop"/>; returns % of one core.</summary>
    public sealed class CpuWindow
    {
        private readonly int? _pid;
        private readonly TimeSpan? _server0;
        private readonly TimeSpan _client0;
        private readonly long _start;

        private CpuWindow(int? pid)
        {
            _pid = pid;
            _server0 = pid is { } p ? ProcessProbe.ReadCpuTime(p) : null;
            _client0 = Process.GetCurrentProcess().TotalProcessorTime;
            _start = Stopwatch.GetTimestamp();
        }

        public static CpuWindow Start(int? pid) => new(pid);

        public (double? Server, double Client) Stop()
        {
            var wall = Stopwatch.GetElapsedTime(_start).TotalSeconds;
            var client = (Process.GetCurrentProcess().TotalProcessorTime - _client0).TotalSeconds / wall * 100;
            double? server = _pid is { } p && _server0 is { } s0 && ProcessProbe.ReadCpuTime(p) is { } s1 ? (s1 - s0).TotalSeconds / wall * 100 : null;
            return (server, client);
        }
    }
}
