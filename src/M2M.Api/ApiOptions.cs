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

    /// <summary>Largest accepted request body of every route but file uploads, in bytes.</summary>
    public long MaxRequestBodyBytes { get; set; } = 1024 * 1024;

    /// <summary>Failed logins allowed per user name within <see cref="LoginWindow"/> before 429.</summary>
    public int LoginFailuresPerUser { get; set; } = 5;

    /// <summary>Login attempts allowed per client address within <see cref="LoginWindow"/> before 429.</summary>
    public int LoginAttemptsPerAddress { get; set; } = 30;

    /// <summary>The sliding window of login throttling.</summary>
    public TimeSpan LoginWindow { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Events buffered per live-event client; a client that falls further behind is disconnected.</summary>
    public int EventBufferPerClient { get; set; } = 1000;

    /// <summary>How often the fleet index re-reads every device from the registry (to catch writes made by other processes).</summary>
    public TimeSpan FleetResyncInterval { get; set; } = TimeSpan.FromMinutes(10);
}
