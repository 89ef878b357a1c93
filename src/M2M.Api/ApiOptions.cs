namespace M2M.Api;

/// <summary>Settings of the HTTP API (configuration section <c>M2M:Api</c>).</summary>
public sealed class ApiOptions
{
    public const string Section = "M2M:Api";

    /// <summary>
    /// Key that signs the access tokens: base64 of at least 32 bytes, or text of at least 32
    /// characters. When empty, a random key is generated once and kept in the data directory
    /// (<see cref="SigningKeyFileName"/>, readable by the owner only).
    /// </summary>
    public string? SigningKey { get; set; }

    /// <summary>Name of the generated key file in the data directory.</summary>
    public const string SigningKeyFileName = "api-signing.key";

    /// <summary>Issuer and audience of the tokens.</summary>
    public string Issuer { get; set; } = "m2m";

    /// <summary>How long an access token is valid.</summary>
    public TimeSpan TokenLifetime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How long a refresh token stays valid; each use rotates it and starts this time again.</summary>
    public TimeSpan RefreshTokenLifetime { get; set; } = TimeSpan.FromDays(30);

    /// <summary>Largest accepted request body of every route but file uploads, in bytes.</summary>
    public long MaxRequestBodyBytes { get; set; } = 1024 * 1024;

    /// <summary>Failed logins of one user from one address before that pair is delayed (1 s, 2 s, 4 s…).</summary>
    public int LoginFreeFailures { get; set; } = 3;

    /// <summary>Failed logins from one address, over every user, before that address is delayed (users who signed in from it before pass).</summary>
    public int LoginAddressFreeFailures { get; set; } = 20;

    /// <summary>
    /// Failed logins of one user, over every address, before the addresses the user never signed in
    /// from are delayed together (a guard against distributed guessing).
    /// </summary>
    public int LoginUserAttackFailures { get; set; } = 50;

    /// <summary>Longest delay a login is made to wait.</summary>
    public TimeSpan LoginMaxDelay { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Failures are forgotten once this long has passed without a new one.</summary>
    public TimeSpan LoginWindow { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>How long a successful sign-in lets its address pass the address and distributed guards for that user.</summary>
    public TimeSpan LoginTrustedAddressLifetime { get; set; } = TimeSpan.FromDays(30);

    /// <summary>Most entries of each throttle table (user/address pairs, addresses, users); the least recently active go first.</summary>
    public int LoginMaxTrackedKeys { get; set; } = 20_000;

    /// <summary>Events buffered per live-event client; a client that falls further behind is disconnected.</summary>
    public int EventBufferPerClient { get; set; } = 1000;

    /// <summary>
    /// Adds a <c>Server-Timing</c> header to every HTTP answer: the server's own time and its monotonic
    /// clock at the request's start (<see cref="Http.ServerTiming"/>). For benchmarks; off by default.
    /// </summary>
    public bool ServerTiming { get; set; }

    /// <summary>
    /// Serves the short reads of the API (a device, its latest values, a page of its records) on the thread that
    /// received the request rather than through the thread pool's queue (<see cref="Http.InlineRequests"/>):
    /// read latency under ingest load. Takes full effect with the runtime's switch
    /// <c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1</c> in the server's environment. Single-process
    /// server with RocksDB only; off by default.
    /// </summary>
    public bool InlineRequests { get; set; }

    /// <summary>How often the fleet index re-reads every device from the registry (to catch writes made by other processes).</summary>
    public TimeSpan FleetResyncInterval { get; set; } = TimeSpan.FromMinutes(10);
}
