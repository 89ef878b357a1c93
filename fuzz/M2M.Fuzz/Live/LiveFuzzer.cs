using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace M2M.Fuzz.Live;

/// <summary>
/// Fuzzes a running server over its device ports: many concurrent connections, each sending one
/// generated session (<see cref="LiveInputs"/>) in random chunks and reading what comes back. At the
/// end it reads the server's log for sessions that ended on an internal error, checks that the
/// process is alive and <c>/health</c> answers, and prints the figures. Exit code 1 when a session
/// ended on an internal error or the server died.
/// </summary>
internal static partial class LiveFuzzer
{
    public const string Usage =
        "usage: M2M.Fuzz live [--m2mp HOST:PORT] [--alip HOST:PORT] [--seconds 600] [--connections 16] [--seed 1]\n" +
        "                     [--server-log FILE] [--server-pid PID] [--health URL] [--findings DIR]";

    public static async Task<int> RunAsync(string[] options)
    {
        string? Option(string name) => Array.IndexOf(options, name) is var i and >= 0 && i + 1 < options.Length ? options[i + 1] : null;
        var m2mp = Option("--m2mp") is { } m ? IPEndPoint.Parse(m) : null;
        var alip = Option("--alip") is { } a ? IPEndPoint.Parse(a) : null;
        if (m2mp is null && alip is null)
        {
            Console.Error.WriteLine(Usage);
            return 2;
        }
        var duration = TimeSpan.FromSeconds(double.Parse(Option("--seconds") ?? "600", CultureInfo.InvariantCulture));
        var connections = int.Parse(Option("--connections") ?? "16", CultureInfo.InvariantCulture);
        var seed = int.Parse(Option("--seed") ?? "1", CultureInfo.InvariantCulture);
        var serverLog = Option("--server-log");
        var serverPid = Option("--server-pid") is { } p ? int.Parse(p, CultureInfo.InvariantCulture) : (int?)null;
        var health = Option("--health") is { } h ? new Uri(h) : null;
        var findings = Option("--findings") ?? Path.Combine("fuzz", "findings", "live");

        var corpus = new List<byte[]>();
        foreach (var directory in new[] { Path.Combine("fuzz", "corpus", "m2mp"), Path.Combine("fuzz", "corpus", "alip") })
        {
            if (Directory.Exists(directory))
            {
                corpus.AddRange(Directory.GetFiles(directory).Select(File.ReadAllBytes));
            }
        }
        if (corpus.Count == 0)
        {
            corpus.Add("ID imei:35412345678\n"u8.ToArray());
        }

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var healthBefore = health is null ? "not checked" : await HealthAsync(http, health);
        var logOffset = serverLog is not null && File.Exists(serverLog) ? new FileInfo(serverLog).Length : 0;
        Console.WriteLine($"live fuzzing for {duration.TotalSeconds:F0} s, {connections} connections per port, seed {seed}; health before: {healthBefore}");

        using var stop = new CancellationTokenSource(duration);
        var crashed = false;
        var monitor = serverPid is { } pid ? Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                if (!IsAlive(pid))
                {
                    crashed = true;
                    await stop.CancelAsync();
                    return;
                }
                await Task.Delay(1000, CancellationToken.None);
            }
        }) : Task.CompletedTask;

        var stats = new Dictionary<string, ProtocolStats>();
        var workers = new List<Task>();
        var clock = Stopwatch.StartNew();
        foreach (var (name, endPoint) in new[] { ("m2mp", m2mp), ("alip", alip) })
        {
            if (endPoint is null)
            {
                continue;
            }
            var s = stats[name] = new ProtocolStats();
            for (var w = 0; w < connections; w++)
            {
                var random = new Random(HashCode.Combine(seed, name, w));
                workers.Add(Task.Run(async () =>
                {
                    while (!stop.IsCancellationRequested)
                    {
                        await RunSessionAsync(name == "alip", endPoint, random, corpus, s, findings);
                    }
                }));
            }
        }
        var progress = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromSeconds(30), CancellationToken.None);
                Console.WriteLine($"  {clock.Elapsed.TotalSeconds:F0} s: " + string.Join("; ", stats.Select(kv => $"{kv.Key} {Interlocked.Read(ref kv.Value.Sessions)} sessions")));
            }
        });
        await Task.WhenAll(workers);
        await monitor;
        await progress;

        // Let the server finish logging the last sessions.
        await Task.Delay(TimeSpan.FromSeconds(3));
        var alive = serverPid is not { } checkPid || IsAlive(checkPid);
        crashed |= !alive;
        var healthAfter = health is null ? "not checked" : await HealthAsync(http, health);
        var log = serverLog is not null && File.Exists(serverLog) ? ServerLog.Read(serverLog, logOffset) : null;

        Report(clock.Elapsed, stats, serverPid, crashed, healthBefore, healthAfter, log, findings);
        return crashed || (log?.InternalErrorCount ?? 0) > 0 || stats.Values.Any(s => s.InternalQuits > 0) ? 1 : 0;
    }

    private static async Task RunSessionAsync(bool alip, IPEndPoint endPoint, Random random, List<byte[]> corpus, ProtocolStats stats, string findings)
    {
        var input = alip ? LiveInputs.Alip(random, corpus) : LiveInputs.M2mp(random, corpus);
        using var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using var connect = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await socket.ConnectAsync(endPoint, connect.Token);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            Interlocked.Increment(ref stats.ConnectFailures);
            await Task.Delay(200);
            return;
        }
        Interlocked.Increment(ref stats.Sessions);
        var received = new Received();
        var receiving = ReceiveAsync(socket, received);

        var reset = false;
        try
        {
            for (var offset = 0; offset < input.Length && !receiving.IsCompleted;)
            {
                var n = random.Next(1, Math.Min(4096, input.Length - offset) + 1);
                await socket.SendAsync(input.AsMemory(offset, n), SocketFlags.None);
                offset += n;
                Interlocked.Add(ref stats.BytesSent, n);
                if (random.Next(10) == 0)
                {
                    await Task.Delay(random.Next(1, 20));
                }
            }
        }
        catch (SocketException)
        {
            reset = true;
        }

        // Answers (barriers wait for storage): until the server closes, or 700 ms of silence, at most 3 s.
        var sent = Stopwatch.StartNew();
        while (!receiving.IsCompleted && sent.ElapsedMilliseconds < 3000
               && (sent.ElapsedMilliseconds < 700 || Environment.TickCount64 - Volatile.Read(ref received.LastTick) < 700))
        {
            await Task.WhenAny(receiving, Task.Delay(100));
        }
        var closedByServer = receiving.IsCompleted;
        if (!closedByServer)
        {
            socket.Close();
        }
        reset |= await receiving;
        if (reset)
        {
            Interlocked.Increment(ref stats.Resets);
        }
        else if (closedByServer)
        {
            Interlocked.Increment(ref stats.ClosedByServer);
        }
        else
        {
            Interlocked.Increment(ref stats.ClosedByFuzzer);
        }
        Interlocked.Add(ref stats.BytesReceived, received.Bytes);
        if (alip)
        {
            stats.CountAlip(received.Text(), input, findings);
        }
    }

    /// <summary>Reads until the connection ends; <c>true</c> when it ended by a reset.</summary>
    private static async Task<bool> ReceiveAsync(Socket socket, Received received)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                var n = await socket.ReceiveAsync(buffer, SocketFlags.None);
                if (n == 0)
                {
                    return false;
                }
                received.Add(buffer.AsSpan(0, n));
            }
        }
        catch (SocketException)
        {
            return true;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
    }

    private static bool IsAlive(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static async Task<string> HealthAsync(HttpClient http, Uri health)
    {
        try
        {
            var response = await http.GetAsync(health);
            return $"{(int)response.StatusCode} {(await response.Content.ReadAsStringAsync()).Trim()}";
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return $"no answer ({e.Message})";
        }
    }

    private static void Report(TimeSpan elapsed, Dictionary<string, ProtocolStats> stats, int? pid, bool crashed, string healthBefore, string healthAfter, ServerLog? log, string findings)
    {
        var o = new StringBuilder();
        o.AppendLine(CultureInfo.InvariantCulture, $"ran {elapsed.TotalSeconds:F0} s");
        foreach (var (name, s) in stats)
        {
            o.AppendLine(CultureInfo.InvariantCulture,
                $"{name}: {s.Sessions} sessions, {s.BytesSent} bytes sent, {s.BytesReceived} bytes received, {s.ConnectFailures} connect failures; ended: {s.ClosedByServer} closed by the server, {s.ClosedByFuzzer} by the fuzzer, {s.Resets} reset (a server closing with input unread resets)");
            foreach (var (kind, counts) in new[] { ("ERR", s.Errors), ("QUIT", s.Quits) })
            {
                foreach (var (reason, count) in counts.OrderByDescending(kv => kv.Value).Take(30))
                {
                    o.AppendLine(CultureInfo.InvariantCulture, $"    {kind} {reason}: {count}");
                }
            }
            if (s.InternalQuits > 0)
            {
                o.AppendLine(CultureInfo.InvariantCulture, $"    sessions answered QUIT internal error: {s.InternalQuits} (inputs in {findings}-{name})");
            }
        }
        o.AppendLine(CultureInfo.InvariantCulture, $"server: {(pid is null ? "process not watched" : crashed ? $"process {pid} DIED" : $"process {pid} alive")}; health before: {healthBefore}; after: {healthAfter}");
        if (log is null)
        {
            o.AppendLine("server log: not read (--server-log)");
        }
        else
        {
            o.AppendLine(CultureInfo.InvariantCulture, $"server log: {log.InternalErrorCount} sessions ended on an internal error, {log.OtherErrors.Values.Sum()} other error entries, {log.CrashSigns.Count} crash signs");
            foreach (var (kind, count) in log.InternalErrors.OrderByDescending(kv => kv.Value))
            {
                o.AppendLine(CultureInfo.InvariantCulture, $"    internal error {kind}: {count}");
            }
            foreach (var (kind, count) in log.OtherErrors.OrderByDescending(kv => kv.Value).Take(20))
            {
                o.AppendLine(CultureInfo.InvariantCulture, $"    error {kind}: {count}");
            }
            foreach (var sign in log.CrashSigns.Take(10))
            {
                o.AppendLine(CultureInfo.InvariantCulture, $"    crash sign: {sign}");
            }
        }
        Console.Write(o.ToString());
    }

    /// <summary>What one connection received (the first 256 KiB kept as text).</summary>
    private sealed class Received
    {
        private readonly MemoryStream _kept = new();
        public long Bytes;
        public long LastTick = Environment.TickCount64;

        public void Add(ReadOnlySpan<byte> bytes)
        {
            Bytes += bytes.Length;
            Volatile.Write(ref LastTick, Environment.TickCount64);
            if (_kept.Length < 256 * 1024)
            {
                _kept.Write(bytes);
            }
        }

        public string Text() => Encoding.UTF8.GetString(_kept.GetBuffer(), 0, (int)_kept.Length);
    }

    private sealed partial class ProtocolStats
    {
        public long Sessions;
        public long BytesSent;
        public long BytesReceived;
        public long ConnectFailures;
        public long ClosedByServer;
        public long ClosedByFuzzer;
        public long Resets;
        public long InternalQuits;
        public readonly ConcurrentDictionary<string, long> Errors = new(StringComparer.Ordinal);
        public readonly ConcurrentDictionary<string, long> Quits = new(StringComparer.Ordinal);

        public void CountAlip(string text, byte[] input, string findings)
        {
            var internalError = false;
            foreach (var line in text.Split('\n'))
            {
                if (line.StartsWith("ERR ", StringComparison.Ordinal))
                {
                    Errors.AddOrUpdate(Normalize(line[4..]), 1, static (_, c) => c + 1);
                }
                else if (line.StartsWith("QUIT ", StringComparison.Ordinal))
                {
                    var reason = line[5..].TrimEnd('\r');
                    Quits.AddOrUpdate(reason, 1, static (_, c) => c + 1);
                    internalError |= reason == "internal error";
                }
            }
            if (internalError)
            {
                Interlocked.Increment(ref InternalQuits);
                var directory = findings + "-alip";
                Directory.CreateDirectory(directory);
                File.WriteAllBytes(Path.Combine(directory, Convert.ToHexStringLower(SHA1.HashData(input))), input);
            }
        }

        // Reasons carry the device's own text (a command name, a value): keep their shape only.
        private static string Normalize(string reason)
        {
            reason = reason.TrimEnd('\r');
            if (reason.StartsWith("Command \"", StringComparison.Ordinal) && reason.EndsWith("\" not understood", StringComparison.Ordinal))
            {
                return "Command \"…\" not understood";
            }
            reason = Quoted().Replace(reason, "\"…\"");
            reason = Digits().Replace(reason, "N");
            return reason.Length <= 80 ? reason : reason[..80] + "…";
        }

        [GeneratedRegex("\"[^\"]*\"")]
        private static partial Regex Quoted();

        [GeneratedRegex(@"\d+")]
        private static partial Regex Digits();
    }
}
