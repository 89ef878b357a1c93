using System.Globalization;

namespace M2M.Load.Stats;

/// <summary>
/// Reads a local process's memory and CPU time from <c>/proc</c> (Linux), and finds the process
/// listening on a TCP port. Every method returns <c>null</c> where <c>/proc</c> cannot tell.
/// </summary>
public static class ProcessProbe
{
    /// <summary>Resident set size in bytes (<c>VmRSS</c> of <c>/proc/&lt;pid&gt;/status</c>).</summary>
    public static long? ReadRss(int pid)
    {
        try
        {
            return ParseRss(File.ReadAllText($"/proc/{pid}/status"));
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The <c>VmRSS:  123456 kB</c> line of a status file, in bytes.</summary>
    public static long? ParseRss(string status)
    {
        foreach (var line in status.AsSpan().EnumerateLines())
        {
            if (!line.StartsWith("VmRSS:"))
            {
                continue;
            }
            var rest = line["VmRSS:".Length..].Trim();
            var space = rest.IndexOf(' ');
            var number = space < 0 ? rest : rest[..space];
            return long.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out var kib) ? kib * 1024 : null;
        }
        return null;
    }

    /// <summary>User + system CPU time of a process (fields 14 and 15 of <c>/proc/&lt;pid&gt;/stat</c>).</summary>
    public static TimeSpan? ReadCpuTime(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // The command name (field 2) is in parentheses and may hold spaces: count fields after it.
            var close = stat.LastIndexOf(')');
            var fields = stat[(close + 2)..].Split(' ');
            // fields[0] is field 3 (state): utime is field 14, stime field 15.
            var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
            return TimeSpan.FromSeconds(ticks / 100.0); // USER_HZ is 100 on Linux
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return null;
        }
    }

    /// <summary>Threads of a process (<c>Threads:</c> of its status file).</summary>
    public static int? ReadThreads(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("Threads:", StringComparison.Ordinal))
                {
                    return int.Parse(line.AsSpan("Threads:".Length).Trim(), CultureInfo.InvariantCulture);
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
        }
        return null;
    }

    /// <summary>The process holding a TCP socket that listens on <paramref name="port"/>, or <c>null</c>.</summary>
    public static int? FindListener(int port)
    {
        var inodes = new HashSet<string>(StringComparer.Ordinal);
        foreach (var table in new[] { "/proc/net/tcp", "/proc/net/tcp6" })
        {
            try
            {
                foreach (var line in File.ReadLines(table).Skip(1))
                {
                    var inode = ListeningInode(line, port);
                    if (inode is not null)
                    {
                        inodes.Add(inode);
                    }
                }
            }
            catch (IOException)
            {
            }
        }
        if (inodes.Count == 0)
        {
            return null;
        }

        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }
            try
            {
                foreach (var fd in Directory.EnumerateFileSystemEntries(Path.Combine(dir, "fd")))
                {
                    var target = new FileInfo(fd).LinkTarget;
                    if (target is not null && target.StartsWith("socket:[", StringComparison.Ordinal) && inodes.Contains(target[8..^1]))
                    {
                        return pid;
                    }
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
        return null;
    }

    /// <summary>
    /// The inode of a <c>/proc/net/tcp</c> line when it is a listening socket (state 0A) on
    /// <paramref name="port"/>: <c>sl local_address rem_address st … inode</c>.
    /// </summary>
    public static string? ListeningInode(string line, int port)
    {
        var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length < 10 || fields[3] != "0A")
        {
            return null;
        }
        var colon = fields[1].LastIndexOf(':');
        if (colon < 0 || !int.TryParse(fields[1].AsSpan(colon + 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var p) || p != port)
        {
            return null;
        }
        return fields[9];
    }
}
