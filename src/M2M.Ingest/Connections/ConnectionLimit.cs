using System.Runtime.InteropServices;
using Microsoft.Extensions.Options;

namespace M2M.Ingest.Connections;

/// <summary>
/// How many device connections this node holds at most: <see cref="IngestOptions.MaxConnections"/>,
/// lowered to what the process's open-files limit leaves once
/// <see cref="IngestOptions.ReservedFileDescriptors"/> are kept for everything else (storage files,
/// HTTP connections, the runtime). Every device connection is one descriptor; a node that ran out
/// of them would fail to accept, to open storage files, or abort. Connections over the limit are
/// accepted and closed at once (the one descriptor they need is part of the reserve).
/// </summary>
public sealed class ConnectionLimit
{
    public ConnectionLimit(IOptions<IngestOptions> options)
        : this(options.Value.MaxConnections, options.Value.ReservedFileDescriptors, OpenFiles.SoftLimit())
    {
    }

    internal ConnectionLimit(int maxConnections, int reserved, long? openFilesLimit)
    {
        MaxConnections = maxConnections;
        Reserved = reserved;
        OpenFilesLimit = openFilesLimit;
        Value = Compute(maxConnections, reserved, openFilesLimit);
    }

    /// <summary>The effective limit: at most this many device connections are open at once.</summary>
    public int Value { get; }

    /// <summary>The configured <see cref="IngestOptions.MaxConnections"/>.</summary>
    public int MaxConnections { get; }

    /// <summary>The configured <see cref="IngestOptions.ReservedFileDescriptors"/>.</summary>
    public int Reserved { get; }

    /// <summary>The process's open-files limit (soft <c>RLIMIT_NOFILE</c>); <c>null</c> where there is none to read (Windows) or it is unlimited.</summary>
    public long? OpenFilesLimit { get; }

    /// <summary>Whether the open-files limit, not <see cref="MaxConnections"/>, sets <see cref="Value"/>.</summary>
    public bool IsSetByOpenFiles => Value < MaxConnections;

    /// <summary><c>min(maxConnections, openFiles - reserved)</c>; 0 when the reserve takes every descriptor.</summary>
    internal static int Compute(int maxConnections, int reserved, long? openFilesLimit)
    {
        if (openFilesLimit is not { } limit)
        {
            return maxConnections;
        }
        return (int)Math.Clamp(limit - reserved, 0, maxConnections);
    }

    /// <summary>The open-files limit of this process.</summary>
    internal static class OpenFiles
    {
        private const int RlimitNofileLinux = 7;
        private const int RlimitNofileMac = 8;
        private const ulong Infinity = ulong.MaxValue;

        public static long? SoftLimit()
        {
            if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS() && !OperatingSystem.IsFreeBSD())
            {
                return null;
            }
            var resource = OperatingSystem.IsLinux() ? RlimitNofileLinux : RlimitNofileMac;
            if (GetRLimit(resource, out var limit) != 0 || limit.Current == Infinity || limit.Current > long.MaxValue)
            {
                return null;
            }
            return (long)limit.Current;
        }

        // rlim_t is 64 bits on the 64-bit platforms .NET runs on.
        [StructLayout(LayoutKind.Sequential)]
        private struct RLimit
        {
            public ulong Current;
            public ulong Maximum;
        }

        [DllImport("libc", EntryPoint = "getrlimit", SetLastError = true)]
        private static extern int GetRLimit(int resource, out RLimit limit);
    }
}
