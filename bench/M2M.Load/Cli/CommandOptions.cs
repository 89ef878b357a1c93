using System.Globalization;

namespace M2M.Load.Cli;

/// <summary>The options of <c>m2m-load commands</c> (command latency through the HTTP API).</summary>
public sealed partial record LoadOptions
{
    /// <summary>Commands: the HTTP API's base address (<c>http://127.0.0.1:5000</c>).</summary>
    public Uri? ApiUrl { get; init; }

    /// <summary>Commands: an access token or an API key (<c>m2mk_…</c>) sent as <c>Authorization: Bearer</c>.</summary>
    public string? ApiToken { get; init; }

    /// <summary>Commands: the user that signs in (<c>POST /api/auth/token</c>) when no token is given.</summary>
    public string ApiUser { get; init; } = "admin";

    /// <summary>Commands: that user's password (else the environment variable <see cref="CommandOptions.PasswordVariable"/>).</summary>
    public string? ApiPassword { get; init; }

    /// <summary>Commands: API calls in flight at most; past it the schedule falls behind (reported as lag).</summary>
    public int ApiConcurrency { get; init; } = 64;

    /// <summary>Commands: after the last command is queued, how long deliveries and acknowledgements are still awaited.</summary>
    public TimeSpan Grace { get; init; } = TimeSpan.FromSeconds(10);
}

/// <summary>Parsing, validation and help of the <c>commands</c> options (kept apart from the shared parser).</summary>
public static class CommandOptions
{
    /// <summary>Read for the password when <c>--api-password</c> is not given (keeps it off the process list).</summary>
    public const string PasswordVariable = "M2M_API_PASSWORD";

    /// <summary>Applies one of the <c>commands</c> options; any other name is an unknown option.</summary>
    public static LoadOptions Apply(LoadOptions o, string name, string? value) => name switch
    {
        "--api-url" => o with { ApiUrl = ParseUrl(value) },
        "--api-token" => o with { ApiToken = NonEmpty(value) },
        "--api-user" => o with { ApiUser = NonEmpty(value) },
        "--api-password" => o with { ApiPassword = NonEmpty(value) },
        "--api-concurrency" => o with { ApiConcurrency = Int(value, 1, 10_000) },
        "--grace" => o with { Grace = CommandLine.ParseDuration(value!) },
        _ => throw new FormatException($"unknown option (see m2m-load {CommandLine.CommandName(o.Command)} --help)."),
    };

    /// <summary>What is wrong with a <c>commands</c> run's options, or with another command given these options.</summary>
    public static string? Validate(LoadOptions o)
    {
        var api = o.ApiUrl is not null || o.ApiToken is not null || o.ApiPassword is not null;
        if (o.Command != LoadCommand.Commands)
        {
            return api ? "--api-url, --api-token and --api-password belong to commands." : null;
        }
        if (o.ApiUrl is null)
        {
            return "commands needs --api-url (the HTTP API, e.g. http://127.0.0.1:5000).";
        }
        if (o.Devices == 0)
        {
            return "--devices must be at least 1.";
        }
        if (o.Rate <= 0)
        {
            return "commands needs a --rate (commands/s) above 0.";
        }
        if (o.Duration == TimeSpan.Zero)
        {
            return "commands needs a --duration above 0.";
        }
        if (o.Rate * o.Duration.TotalSeconds > 10_000_000)
        {
            return "--rate × --duration is over 10,000,000 commands.";
        }
        if (o.ApiToken is not null && o.ApiPassword is not null)
        {
            return "give --api-token or --api-password, not both.";
        }
        return null;
    }

    /// <summary>The password to sign in with: <c>--api-password</c>, else <see cref="PasswordVariable"/>.</summary>
    public static string? Password(LoadOptions o) =>
        o.ApiPassword ?? (Environment.GetEnvironmentVariable(PasswordVariable) is { Length: > 0 } p ? p : null);

    public static string Help(string common, string times) => $$"""
        m2m-load commands — command latency: HTTP API → device socket → acknowledgement

        D devices (M2MP, ALIP or mix) connect, identify and stay idle; they acknowledge every command
        (M2MP _cmd ["a",id,"ok"], ALIP C A n). Then the tool queues commands through the API
        (POST /api/devices/{id}/commands) at --rate commands/s for --duration, each to a random
        device, and measures per command, on one clock (the tool is both the API client and the
        device): delivery = the POST is sent → the command's bytes arrive on the device's socket;
        ack = the POST is sent → the command_acknowledged event arrives on /api/events (the ack is
        stored and visible through the API); post = the POST's response time. Reports p50/p95/p99/
        max of each, counts, and lost commands (queued, never delivered by the end + --grace).
        Each command's text is "m2m-load <run tag> <sequence>": how a delivery finds its POST.
        The devices must be known to the API: they register at their first identification when
        the server auto-registers (its default); the tool looks their ids up by ident.

        Usage: m2m-load commands --api-url <url> [--api-token <token> | --api-password <pw>] [options]
          --api-url <url>             the HTTP API (e.g. http://127.0.0.1:5000)
          --api-token <token>         an access token or an API key (m2mk_…, scope write)
          --api-user <name>           else sign in as this user (default admin)…
          --api-password <password>   …with this password (default: ${{PasswordVariable}})
          --rate <commands/s>         commands per second over all devices (default 100)
          -d, --duration <time>       time commands are queued (default 30s)
          --api-concurrency <n>       API calls in flight at most (default 64); past it the schedule
                                      falls behind, reported as lag
          --grace <time>              wait for late deliveries and acks after the last (default 10s)
        Defaults: --devices 100.
        {{common}}{{times}}
        """;

    private static Uri ParseUrl(string? value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
            ? uri
            : throw new FormatException($"'{value}' is not an http(s) URL.");

    private static string NonEmpty(string? value) =>
        string.IsNullOrWhiteSpace(value) ? throw new FormatException("must not be empty.") : value;

    private static int Int(string? value, int min, int max) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= min && v <= max
            ? v
            : throw new FormatException($"'{value}' is not a whole number in {min}..{max}.");
}
