using System.Net;
using System.Net.Sockets;

namespace M2M;

/// <summary>
/// Free TCP ports on the loopback interface for servers started on this machine (compiled into the
/// AppHost and into the tests' helpers). A port released by the probe can be the kernel's next answer
/// again, so two servers that ask one after the other could get the same port: a port is handed out
/// once per process, and ports configured for something else can be reserved.
/// </summary>
internal static class FreePorts
{
    private static readonly HashSet<int> s_taken = [];

    /// <summary>Marks <paramref name="ports"/> as taken (configured for another server): <see cref="Next"/> never returns them.</summary>
    public static void Reserve(IEnumerable<int> ports)
    {
        lock (s_taken)
        {
            s_taken.UnionWith(ports);
        }
    }

    /// <summary>A port free now, never one this process handed out or reserved before.</summary>
    public static int Next()
    {
        // Probes that met a taken port stay bound until a new one is found, so the kernel moves on.
        var probes = new List<TcpListener>();
        try
        {
            while (true)
            {
                var listener = new TcpListener(IPAddress.Loopback, 0);
                probes.Add(listener);
                listener.Start();
                var port = ((IPEndPoint)listener.LocalEndpoint).Port;
                lock (s_taken)
                {
                    if (s_taken.Add(port))
                    {
                        return port;
                    }
                }
            }
        }
        finally
        {
            foreach (var probe in probes)
            {
                probe.Stop();
            }
        }
    }
}
