using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace M2M.Load.Cli;

/// <summary>The outcome of parsing: options to run, a help request, or an error to print.</summary>
public sealed record ParseResult(LoadOptions? Options, string? Error, bool Help, LoadCommand? HelpCommand)
{
    public static ParseResult Ok(LoadOptions options) => new(options, null, false, options.Command);

    public static ParseResult Fail(string error) => new(null, error, false, null);

    public static ParseResult ShowHelp(LoadCommand? command) => new(null, null, true, command);
}

/// <summary>
/// Hand-written argument parser: <c>m2m-load &lt;command&gt; [--option value | --option=value | --flag]…</c>.
/// Every option is listed in <see cref="Help"/>; an unknown one is an error, never ignored.
/// </summary>
public static class CommandLine
{
    private static readonly HashSet<string> Flags = ["--json", "--quiet", "--then-load", "--replay-loop", "--identify", "--help", "-h"];

    public static ParseResult Parse(IReadOnlyList<string> args)
    {
        if (args.Count == 0 || args[0] is "-h" or "--help" or "help")
        {
            return args.Count > 1 && TryCommand(args[1], out var c) ? ParseResult.ShowHelp(c) : ParseResult.ShowHelp(null);
        }
        if (!TryCommand(args[0], out var command))
        {
            return ParseResult.Fail($"Unknown command '{args[0]}'. Commands: simulate, load, connections, flood, rocks-baseline, commands (m2m-load --help).");
        }

        var o = Defaults(command);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 1; i < args.Count; i++)
        {
            var arg = args[i];
            string name;
            string? value = null;
            var eq = arg.IndexOf('=', StringComparison.Ordinal);
            if (arg.StartsWith("--", StringComparison.Ordinal) && eq > 0)
            {
                name = arg[..eq];
                value = arg[(eq + 1)..];
            }
            else
            {
                name = arg;
            }

            if (name is "-h" or "--help")
            {
                return ParseResult.ShowHelp(command);
            }
            if (!name.StartsWith('-'))
            {
                return ParseResult.Fail($"Unexpected argument '{arg}'.");
            }
            if (Flags.Contains(name))
            {
                if (value is not null)
                {
                    return ParseResult.Fail($"{name} takes no value.");
                }
            }
            else if (value is null)
            {
                if (i + 1 >= args.Count)
                {
                    return ParseResult.Fail($"{name} needs a value.");
                }
                value = args[++i];
            }
            name = name switch
            {
                "-n" => "--devices",
                "-k" => "--barrier-every",
                "-d" => "--duration",
                "-c" => "--connections",
                _ => name,
            };
            if (!seen.Add(name))
            {
                return ParseResult.Fail($"{name} is given twice.");
            }

            try
            {
                o = Apply(o, name, value);
            }
            catch (FormatException e)
            {
                return ParseResult.Fail($"{name}: {e.Message}");
            }
        }

        var error = Validate(o);
        return error is null ? ParseResult.Ok(o) : ParseResult.Fail(error);
    }

    private static bool TryCommand(string text, out LoadCommand command)
    {
        switch (text)
        {
            case "simulate": command = LoadCommand.Simulate; return true;
            case "load": command = LoadCommand.Load; return true;
            case "connections": command = LoadCommand.Connections; return true;
            case "rocks-baseline": command = LoadCommand.RocksBaseline; return true;
            case "flood": command = LoadCommand.Flood; return true;
            case "commands": command = LoadCommand.Commands; return true;
            default: command = default; return false;
        }
    }

    /// <summary>The defaults that differ per command.</summary>
    public static LoadOptions Defaults(LoadCommand command) => command switch
    {
        LoadCommand.Simulate => new LoadOptions { Command = command, Devices = 10, BarrierEvery = 10, Duration = TimeSpan.Zero },
        LoadCommand.Load => new LoadOptions { Command = command, Devices = 100, BarrierEvery = 100, Duration = TimeSpan.FromSeconds(30) },
        LoadCommand.Connections => new LoadOptions { Command = command, Devices = 100, BarrierEvery = 100, Duration = TimeSpan.FromSeconds(20) },
        LoadCommand.Flood => new LoadOptions { Command = command, Devices = 0, BarrierEvery = 100, Settle = TimeSpan.FromSeconds(5) },
        LoadCommand.Commands => new LoadOptions { Command = command, Devices = 100, BarrierEvery = 100, Duration = TimeSpan.FromSeconds(30), Rate = 100 },
        _ => new LoadOptions { Command = command, Devices = 100, BarrierEvery = 100 },
    };

    private static LoadOptions Apply(LoadOptions o, string name, string? value) => name switch
    {
        "--host" => o with { Host = NonEmpty(value) },
        "--m2mp-port" => o with { M2mpPort = Int(value, 1, 65535) },
        "--alip-port" => o with { AlipPort = Int(value, 1, 65535) },
        "--protocol" => o with { Protocol = ProtocolOf(value!) },
        "-n" or "--devices" => o with { Devices = Int(value, 0, 1_000_000) },
        "--ident-prefix" => o with { IdentPrefix = NonEmpty(value) },
        "--ident-offset" => o with { IdentOffset = Int(value, 0, int.MaxValue / 2) },
        "--secret-seed" => o with { SecretSeed = NonEmpty(value) },
        "-k" or "--barrier-every" => o with { BarrierEvery = Int(value, 1, 1_000_000) },
        "-d" or "--duration" => o with { Duration = ParseDuration(value!) },
        "--period" => o with { Period = Positive(ParseDuration(value!)) },
        "--jitter" => o with { Jitter = ParseFraction(value!) },
        "--rate" => o with { Rate = Double(value, 0, 1e9) },
        "--window" => o with { Window = Int(value, 1, 200) },
        "--max-unacked" => o with { MaxUnacked = Int(value, 1, 100_000_000) },
        "--history" => o with { History = ParseDuration(value!) },
        "--spacing" => o with { Spacing = WholeSeconds(ParseDuration(value!)) },
        "--replay" => o with { ReplayFile = NonEmpty(value) },
        "--replay-loop" => o with { ReplayLoop = true },
        "--reconnect-min" => o with { ReconnectMin = Positive(ParseDuration(value!)) },
        "--reconnect-max" => o with { ReconnectMax = Positive(ParseDuration(value!)) },
        "--connect-timeout" => o with { ConnectTimeout = Positive(ParseDuration(value!)) },
        "--ident-timeout" => o with { IdentTimeout = Positive(ParseDuration(value!)) },
        "--server-pid" => o with { ServerPid = Int(value, 1, int.MaxValue) },
        "--latency-log" => o with { LatencyLog = NonEmpty(value) },
        "--json" => o with { Json = true },
        "--quiet" => o with { Quiet = true },
        "--source-addresses" => o with { SourceAddresses = ParseAddressRange(value!), SourceAddressesSet = true },
        "-c" or "--connections" => o with { Connections = Int(value, 1, 10_000_000) },
        "--connect-concurrency" => o with { ConnectConcurrency = Int(value, 1, 100_000) },
        "--settle" => o with { Settle = ParseDuration(value!) },
        "--hold" => o with { Hold = ParseDuration(value!) },
        "--then-load" => o with { ThenLoad = true },
        "--rows" => o with { Rows = Long(value, 1, 10_000_000_000) },
        "--sync-every" => o with { SyncEvery = Int(value, 1, 10_000_000) },
        "--dir" => o with { Directory = NonEmpty(value) },
        "--frame-size" => o with { FrameSize = Int(value, 16, int.MaxValue) },
        "--send" => o with { Send = Int(value, 0, int.MaxValue) },
        "--interval" => o with { Interval = ParseDuration(value!) },
        "--identify" => o with { Identify = true },
        "--after" => o with { After = ParseDuration(value!) },
        _ => CommandOptions.Apply(o, name, value),
    };

    private static string? Validate(LoadOptions o)
    {
        if (o.ReconnectMin > o.ReconnectMax)
        {
            return "--reconnect-min must not exceed --reconnect-max.";
        }
        if (o.Command is LoadCommand.Simulate or LoadCommand.Load && o.Devices == 0)
        {
            return "--devices must be at least 1.";
        }
        if (o.Command is LoadCommand.Load && o.Duration == TimeSpan.Zero)
        {
            return "load needs a --duration above 0.";
        }
        if (o.Command is LoadCommand.Connections && o.ThenLoad && o.Devices == 0)
        {
            return "--then-load needs --devices of at least 1.";
        }
        if (o.ReplayFile is not null && o.Command is not LoadCommand.Simulate)
        {
            return "--replay belongs to simulate.";
        }
        if (o.LatencyLog is not null && o.Command is not (LoadCommand.Load or LoadCommand.Connections))
        {
            return "--latency-log belongs to load and connections --then-load.";
        }
        if (o.Command is LoadCommand.Flood && o.Send > o.FrameSize - 6)
        {
            return "--send must be below the --frame-size (it is part of the frame's body).";
        }
        if (o.Rate > 0 && o.Command is LoadCommand.Simulate)
        {
            return "--rate belongs to load and connections --then-load; simulate uses --period.";
        }
        return CommandOptions.Validate(o);
    }

    public static string CommandName(LoadCommand command) => command switch
    {
        LoadCommand.Simulate => "simulate",
        LoadCommand.Load => "load",
        LoadCommand.Connections => "connections",
        LoadCommand.Flood => "flood",
        LoadCommand.Commands => "commands",
        _ => "rocks-baseline",
    };

    /// <summary>
    /// <c>500ms</c>, <c>30s</c>, <c>5m</c>, <c>2h</c>, <c>7d</c> or a plain number of seconds
    /// (fractions allowed). Negative values are refused.
    /// </summary>
    public static TimeSpan ParseDuration(string text)
    {
        text = text.Trim();
        (string number, double unitSeconds) = text switch
        {
            _ when text.EndsWith("ms", StringComparison.OrdinalIgnoreCase) => (text[..^2], 0.001),
            _ when text.EndsWith('s') || text.EndsWith('S') => (text[..^1], 1.0),
            _ when text.EndsWith('m') || text.EndsWith('M') => (text[..^1], 60.0),
            _ when text.EndsWith('h') || text.EndsWith('H') => (text[..^1], 3600.0),
            _ when text.EndsWith('d') || text.EndsWith('D') => (text[..^1], 86400.0),
            _ => (text, 1.0),
        };
        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || value < 0 || double.IsNaN(value) || double.IsInfinity(value))
        {
            throw new FormatException($"'{text}' is not a duration (e.g. 500ms, 30s, 5m, 2h, 7d).");
        }
        var seconds = value * unitSeconds;
        if (seconds > TimeSpan.FromDays(3650).TotalSeconds)
        {
            throw new FormatException($"'{text}' is longer than ten years.");
        }
        return TimeSpan.FromTicks((long)Math.Round(seconds * TimeSpan.TicksPerSecond));
    }

    /// <summary><c>20%</c> or <c>0.2</c>, within [0, 1].</summary>
    public static double ParseFraction(string text)
    {
        text = text.Trim();
        var percent = text.EndsWith('%');
        var number = percent ? text[..^1] : text;
        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || double.IsNaN(value))
        {
            throw new FormatException($"'{text}' is not a fraction (e.g. 20% or 0.2).");
        }
        if (percent)
        {
            value /= 100;
        }
        if (value is < 0 or > 1)
        {
            throw new FormatException($"'{text}' must be between 0 and 1 (0% and 100%).");
        }
        return value;
    }

    /// <summary>
    /// <c>127.0.0.2-127.0.0.254</c> (an inclusive IPv4 range, at most 65536 addresses), one address,
    /// or <c>none</c>.
    /// </summary>
    public static IReadOnlyList<IPAddress> ParseAddressRange(string text)
    {
        text = text.Trim();
        if (text.Equals("none", StringComparison.OrdinalIgnoreCase))
        {
            return [];
        }
        var dash = text.IndexOf('-', StringComparison.Ordinal);
        var first = ParseIPv4(dash < 0 ? text : text[..dash]);
        var last = dash < 0 ? first : ParseIPv4(text[(dash + 1)..]);
        if (last < first)
        {
            throw new FormatException($"'{text}': the last address comes before the first.");
        }
        if (last - first >= 65536)
        {
            throw new FormatException($"'{text}' holds more than 65536 addresses.");
        }
        var list = new List<IPAddress>((int)(last - first + 1));
        for (var a = first; a <= last; a++)
        {
            list.Add(new IPAddress([(byte)(a >> 24), (byte)(a >> 16), (byte)(a >> 8), (byte)a]));
        }
        return list;

        static uint ParseIPv4(string s)
        {
            if (!IPAddress.TryParse(s.Trim(), out var ip) || ip.AddressFamily != AddressFamily.InterNetwork)
            {
                throw new FormatException($"'{s}' is not an IPv4 address.");
            }
            var b = ip.GetAddressBytes();
            return (uint)(b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3]);
        }
    }

    private static ProtocolMix ProtocolOf(string value) => value.ToLowerInvariant() switch
    {
        "m2mp" => ProtocolMix.M2mp,
        "alip" => ProtocolMix.Alip,
        "mix" => ProtocolMix.Mix,
        _ => throw new FormatException($"'{value}' is not one of m2mp, alip, mix."),
    };

    private static string NonEmpty(string? value) =>
        string.IsNullOrWhiteSpace(value) ? throw new FormatException("must not be empty.") : value;

    private static TimeSpan WholeSeconds(TimeSpan value) =>
        value >= TimeSpan.FromSeconds(1) && value.Ticks % TimeSpan.TicksPerSecond == 0 && value <= TimeSpan.FromDays(366)
            ? value
            : throw new FormatException("must be whole seconds, from 1s to 366d.");

    private static TimeSpan Positive(TimeSpan value) =>
        value > TimeSpan.Zero ? value : throw new FormatException("must be above 0.");

    private static int Int(string? value, int min, int max) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= min && v <= max
            ? v
            : throw new FormatException($"'{value}' is not a whole number in {min}..{max}.");

    private static long Long(string? value, long min, long max) =>
        long.TryParse(value?.Replace("_", "", StringComparison.Ordinal), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= min && v <= max
            ? v
            : throw new FormatException($"'{value}' is not a whole number in {min}..{max}.");

    private static double Double(string? value, double min, double max) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v >= min && v <= max
            ? v
            : throw new FormatException($"'{value}' is not a number in {min}..{max}.");

    /// <summary>The help text: all commands, or one command with every option it reads.</summary>
    public static string Help(LoadCommand? command)
    {
        const string Common = """
              Server and devices:
                --host <address>            server address (default 127.0.0.1)
                --m2mp-port <port>          M2MP port (default 3010)
                --alip-port <port>          ALIP port (default 3050)
                --protocol m2mp|alip|mix    device protocol; mix = even devices M2MP, odd ALIP (default m2mp)
                -n, --devices <N>           active devices
                --ident-prefix <text>       idents are <prefix><index, 10 digits> (default imei:35)
                --ident-offset <n>          first device index (default 0), to run several tools side by side
                --secret-seed <text>        each device identifies with a secret, base64url(HMAC-SHA256(seed, ident)):
                                            M2MP 01 LEN "ident secret", ALIP "ID ident secret" (a new device
                                            registers it; the next runs with the same seed must present it)
                -k, --barrier-every <K>     a delivery barrier (M2MP 02 N / ALIP A n) after every K records
                --source-addresses <a-b>    bind client sockets to these source addresses in turn,
                                            e.g. 127.0.0.2-127.0.0.254, or none
                --reconnect-min <time>      first reconnect back-off (default 1s), doubled up to
                --reconnect-max <time>      (default 30s), with ±20% jitter
                --connect-timeout <time>    TCP connect timeout (default 10s)
                --ident-timeout <time>      wait for the identification answer (default 10s)
              Reporting:
                --server-pid <pid>          server process for memory/CPU figures; default: the local
                                            process listening on the ports, when it can be found
                --json                      final result as JSON on stdout (progress goes to stderr)
                --quiet                     no live progress line
                -h, --help                  this help
            """;
        const string Times = "  Times: 500ms, 30s, 5m, 2h, 7d or plain seconds.\n";

        return command switch
        {
            LoadCommand.Simulate => $"""
                m2m-load simulate — devices with realistic behaviour

                Each device connects, identifies, sends a location (sen:loc) and a temperature (sen:temp)
                every period with jitter, stamped with their measurement time, puts a delivery barrier after
                every K records and drops records only once a barrier is answered. It acknowledges settings
                (M2MP _set ["g","name=value"], ALIP S A name value), reports its cap status when asked
                (M2MP _sta), acknowledges commands (M2MP _cmd ["a",id,"ok"], ALIP C A n), answers server
                pings, and reconnects with back-off, resending every unacknowledged record with its
                original time (the server's idempotent storage keeps one copy).

                Usage: m2m-load simulate [options]
                  -d, --duration <time>       run time; 0 = until Ctrl+C (default 0)
                  --period <time>             measurement period per device (default 10s)
                  --jitter <fraction>         period jitter, 20% or 0.2 (default 20%)
                  --max-unacked <n>           unacknowledged records kept per device; older ones are
                                              dropped and counted (default 100000)
                  --replay <file.csv>         replay `time,type,content` lines instead of generated data,
                                              time-shifted so the first line is now (time: unix seconds or
                                              ISO 8601; content may hold commas; '#' comments and a
                                              `time,type,content` header are skipped)
                  --replay-loop               start the file again at its end
                Defaults: --devices 10, --barrier-every 10.
                {Common}{Times}
                """,
            LoadCommand.Load => $"""
                m2m-load load — the same devices as fast as possible

                Each device uploads records (alternately sen:loc and sen:temp, stamped --spacing apart per
                type from now - history, like a tracker emptying its buffer), a barrier after every K, with
                at most --window barriers in flight. Reports records/s acknowledged by barriers, barrier
                latency (median, p95, p99, max), connections, errors and the server's memory and CPU.

                Usage: m2m-load load [options]
                  -d, --duration <time>       run time (default 30s)
                  --rate <records/s>          target rate over all devices; 0 = as fast as possible (default 0)
                  --window <W>                barriers in flight per device (default 2)
                  --history <time>            first record time is now minus this (default 7d)
                  --spacing <time>            time between two records of one type, whole seconds (default
                                              1s); e.g. --history 180d --spacing 30m spreads the records
                                              over six past months (retention demonstrations)
                  --latency-log <file.csv>    every barrier answer: unix_ms,latency_us (to line slow
                                              barriers up with server events)
                Defaults: --devices 100, --barrier-every 100.
                {Common}{Times}
                """,
            LoadCommand.Connections => $"""
                m2m-load connections — many identified idle devices

                Opens and identifies C connections (spread over 127.0.0.2..254 source addresses by default
                when the server is on loopback, to escape the ephemeral-port limit), keeps them idle (they
                still answer settings/status/commands/pings), and reports the server's RSS before and after
                ÷ C. With --then-load, runs the load of `m2m-load load` with --devices active devices while
                the idle ones stay connected. Each connection needs a file descriptor on both sides: raise
                `ulimit -n` first.

                Usage: m2m-load connections [options]
                  -c, --connections <C>       idle connections (default 1000)
                  --connect-concurrency <n>   connects in progress at once (default 200)
                  --settle <time>             wait before reading memory (default 3s)
                  --hold <time>               keep the connections idle after the measurement, before
                                              --then-load (default 0): time to inspect the server
                  --then-load                 then run the load with the idle connections open
                  -d, --duration <time>       load duration with --then-load (default 20s)
                  --rate, --window, --history, --spacing as for load (--devices 100, --barrier-every 100)
                {Common}{Times}
                """,
            LoadCommand.Flood => $"""
                m2m-load flood — connections that make the server buffer large frames

                Opens C connections to the M2MP port (spread over source addresses as for connections),
                sends on each the header of a data frame announcing --frame-size bytes, then --send bytes of
                its body in 8 KiB pieces --interval apart, and holds them. Unidentified by default: the
                server should refuse such frames at their header; with --identify the devices identify first
                and the frames are allowed (the server buffers them). Reports the server's RSS before, during,
                and 10 s, 30 s, 1, 2, 5, 10 min (up to --after) after the connections are closed, and how
                many the server closed.

                Usage: m2m-load flood [options]
                  -c, --connections <C>       connections (default 1000)
                  --frame-size <bytes>        total size the frames announce (default 1048576)
                  --send <bytes>              bytes of each body sent (default 262144)
                  --interval <time>           pause between 8 KiB pieces (default 20ms)
                  --identify                  identify first (ident prefix/offset as for the devices)
                  --settle <time>             wait after sending before reading memory (default 5s)
                  --after <time>              follow memory this long after closing (default 60s)
                  --connect-concurrency <n>   connects in progress at once (default 200)
                {Common}{Times}
                """,
            LoadCommand.Commands => CommandOptions.Help(Common, Times),
            LoadCommand.RocksBaseline => """
                m2m-load rocks-baseline — raw RocksDB write of the same rows

                Writes --rows records shaped like the ones the load stores (id dev-<uuid>, type sen:loc /
                sen:temp, one second apart, JSON data) into a fresh RocksDB with WriteBatch, synced every
                --sync-every rows. Reports rows/s: the ceiling the end-to-end figures are compared with.

                Usage: m2m-load rocks-baseline [options]
                  --rows <n>                  rows to write (default 1000000)
                  --sync-every <n>            rows per synced batch (default 1000)
                  -n, --devices <N>           series the rows are spread over (default 100)
                  --dir <path>                database directory (default: a temporary one, deleted after)
                  --json                      result as JSON on stdout
                """,
            _ => """
                m2m-load — device simulator and load generator for the M2M platform (M2MP and ALIP)

                Usage: m2m-load <command> [options]      (m2m-load <command> --help for its options)

                Commands:
                  simulate        devices with realistic behaviour (period, jitter, settings, commands, replay)
                  load            the same devices as fast as possible (or at --rate) for a duration
                  connections     many identified idle connections: server memory per connection
                  flood           connections announcing large frames: server memory before, during, after
                  rocks-baseline  raw RocksDB write of the same rows (the storage baseline)
                  commands        command latency: HTTP API → device socket → acknowledgement

                Exit codes: 0 done; 1 the run failed (no connection, nothing acknowledged); 2 bad arguments.
                """,
        };
    }
}
