using System.Globalization;

namespace M2M.Load.Cli;

/// <summary>Which end of its window a measured page is read from.</summary>
public enum PageOrder
{
    /// <summary>Newest first, up to a random <c>to</c> (the API's default order).</summary>
    Desc,

    /// <summary>Oldest first, from a random <c>from</c>.</summary>
    Asc,
}

/// <summary>The options only <c>query</c> reads (the fleet, duration, rate and output come from <see cref="LoadOptions"/>).</summary>
public sealed record QueryOptions
{
    /// <summary>Base address of the HTTP API, e.g. <c>http://127.0.0.1:5000</c>.</summary>
    public Uri? ApiUrl { get; init; }

    /// <summary>User name for <c>POST /api/auth/token</c> (with <see cref="Password"/>).</summary>
    public string? User { get; init; }

    public string? Password { get; init; }

    /// <summary>An API key (<c>m2mk_…</c>) instead of a user and password.</summary>
    public string? ApiKey { get; init; }

    /// <summary>Workers issuing queries at the same time.</summary>
    public int Concurrency { get; init; } = 2;

    /// <summary>Records per measured page.</summary>
    public int PageSize { get; init; } = 1000;

    public PageOrder Order { get; init; } = PageOrder.Desc;

    /// <summary>Only this record type in pages; <c>null</c>: each device's own types, one at random per page.</summary>
    public string? Type { get; init; }

    /// <summary>Queries run before the measurement (JIT, caches), not counted.</summary>
    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(5);
}

/// <summary>Parsing, validation and help of the <c>query</c> command's own options.</summary>
public static class QueryCli
{
    /// <summary>Environment variable read for the password when <c>--api-password</c> is not given (keeps it off the process list).</summary>
    public const string PasswordVariable = "M2M_API_PASSWORD";

    /// <summary>The options <see cref="Apply"/> handles.</summary>
    public static readonly HashSet<string> Names = ["--api-url", "--api-user", "--api-password", "--api-token", "--concurrency", "--page-size", "--order", "--type", "--warmup"];

    /// <summary>Applies one of <see cref="Names"/>; a <see cref="FormatException"/> for a bad value or another command.</summary>
    public static LoadOptions Apply(LoadOptions o, string name, string value)
    {
        if (o.Command != LoadCommand.Query)
        {
            throw new FormatException("belongs to query.");
        }
        var q = o.Query;
        q = name switch
        {
            "--api-url" => q with { ApiUrl = Url(value) },
            "--api-user" => q with { User = NonEmpty(value) },
            "--api-password" => q with { Password = NonEmpty(value) },
            "--api-token" => q with { ApiKey = NonEmpty(value) },
            "--concurrency" => q with { Concurrency = Int(value, 1, 1000) },
            "--page-size" => q with { PageSize = Int(value, 1, 1000) },
            "--order" => q with { Order = value.ToLowerInvariant() switch { "desc" => PageOrder.Desc, "asc" => PageOrder.Asc, _ => throw new FormatException($"'{value}' is not one of desc, asc.") } },
            "--type" => q with { Type = value.Length is > 0 and <= 256 && !value.Any(char.IsControl) ? value : throw new FormatException("a record type of 1 to 256 characters.") },
            "--warmup" => q with { Warmup = CommandLine.ParseDuration(value) },
            _ => throw new FormatException("unknown option (see m2m-load query --help)."),
        };
        return o with { Query = q };
    }

    /// <summary><c>null</c> when the options of a query run are complete, else the message.</summary>
    public static string? Validate(LoadOptions o, Func<string, string?>? environment = null)
    {
        var q = o.Query;
        if (q.ApiUrl is null)
        {
            return "query needs --api-url (e.g. http://127.0.0.1:5000).";
        }
        if (q.ApiKey is not null && (q.User is not null || q.Password is not null))
        {
            return "give either --api-token or --api-user and --api-password, not both.";
        }
        if (q.ApiKey is null && q.User is null)
        {
            return "query needs --api-user (and --api-password or $" + PasswordVariable + ") or --api-token.";
        }
        if (q.User is not null && PasswordOf(q, environment) is null)
        {
            return "--api-user needs --api-password (or $" + PasswordVariable + ").";
        }
        if (o.Devices == 0)
        {
            return "--devices must be at least 1.";
        }
        if (o.Duration == TimeSpan.Zero)
        {
            return "query needs a --duration above 0.";
        }
        return null;
    }

    /// <summary><c>--api-password</c>, else <c>$M2M_API_PASSWORD</c>, else <c>null</c>.</summary>
    public static string? PasswordOf(QueryOptions q, Func<string, string?>? environment = null) =>
        q.Password ?? ((environment ?? Environment.GetEnvironmentVariable)(PasswordVariable) is { Length: > 0 } p ? p : null);

    public const string Help = """
        m2m-load query — API read latency against the fleet `load` created

        Signs in to the HTTP API (POST /api/auth/token with --api-user/--api-password, or an API key), finds the
        devices <ident-prefix><index> (as load names them) by ident, reads for each its types, its
        oldest and newest pages (to know where a full page fits), then for --duration lets --concurrency
        workers alternate two queries on random devices:
          page     GET /api/devices/{id}/data?type=<one of its types>&order=desc&to=<random time>&limit=<page size>
                   (order=asc&from=<random time> with --order asc): a full page at a random position in
                   the device's history
          latest   GET /api/devices/{id}/data/latest: the latest record of each type
        A query's latency runs from sending the request to the last byte of the answer. Reports the count,
        queries/s, p50/p95/p99/max per kind, short pages, and errors by HTTP status.

        Usage: m2m-load query --api-url <url> (--api-user <name> --api-password <pw> | --api-token <key>) [options]
          --api-url <url>             base address of the API, e.g. http://127.0.0.1:5000
          --api-user <name>           user to sign in as (an admin sees every domain)
          --api-password <pw>         its password; default: $M2M_API_PASSWORD
          --api-token <token>         an API key (m2mk_…) or access token instead; a key sees its domain's devices
          -n, --devices <N>           devices load created, <prefix><offset>…<prefix><offset+N-1> (default 100)
          --ident-prefix <text>       as for load (default imei:35)
          --ident-offset <n>          as for load (default 0)
          -d, --duration <time>       measured time (default 30s)
          --warmup <time>             queries before the measurement, not counted (default 5s)
          --concurrency <n>           workers, each waiting for its answer before the next query (default 2)
          --rate <queries/s>          total query rate, both kinds together; 0 = as fast as answered (default 0)
          --page-size <n>             records per page, 1..1000 (default 1000)
          --order desc|asc            page direction (default desc)
          --type <type>               only this record type in pages (default: each device's types)
          --json                      result as JSON on stdout (progress goes to stderr)
          --quiet                     no live progress line
          Times: 500ms, 30s, 5m, 2h or plain seconds.
        Exit codes: 0 done; 1 nothing answered (sign-in failed, no device found, every query failed); 2 bad arguments.
        """;

    private static Uri Url(string value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
            ? uri
            : throw new FormatException($"'{value}' is not an http(s) address.");

    private static string NonEmpty(string value) =>
        string.IsNullOrWhiteSpace(value) ? throw new FormatException("must not be empty.") : value;

    private static int Int(string value, int min, int max) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= min && v <= max
            ? v
            : throw new FormatException($"'{value}' is not a whole number in {min}..{max}.");
}
