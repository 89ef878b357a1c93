namespace M2M.Forwarding;

/// <summary>Forwarding to webhooks (configuration section <c>M2M:Forwarding</c>).</summary>
public sealed class ForwardingOptions
{
    public const string Section = "M2M:Forwarding";

    /// <summary>Name of the generated key file in the data directory.</summary>
    public const string KeyFileName = "forwarding.key";

    /// <summary><c>false</c> turns forwarding off: nothing enters the feed, nothing is delivered (the API still manages endpoints).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Key from which every endpoint's signing secret is derived (base64 of ≥ 32 bytes); generated into <c>&lt;DataDirectory&gt;/forwarding.key</c> when unset.</summary>
    public string? Key { get; set; }

    /// <summary>Most items in one delivery.</summary>
    public int MaxBatchItems { get; set; } = 500;

    /// <summary>Largest body of one delivery (a single larger item is still sent alone).</summary>
    public int MaxBatchBytes { get; set; } = 1 << 20;

    /// <summary>Time a receiver has to answer one delivery.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>First retry delay; it doubles per failed attempt up to <see cref="MaxRetryDelay"/>.</summary>
    public TimeSpan MinRetryDelay { get; set; } = TimeSpan.FromSeconds(1);

    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How often an idle endpoint looks for new items.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>How often the endpoint list is re-read (changes made through this node's API apply at once).</summary>
    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a device's domain and ident are cached (a device moved on another node is seen after this).</summary>
    public TimeSpan DeviceCacheLifetime { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often delivered items are removed from the feed.</summary>
    public TimeSpan TrimInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Bus events waiting to enter the feed; past it new events are dropped (and counted).</summary>
    public int EventQueueCapacity { get; set; } = 10_000;

    /// <summary>Most endpoints per domain.</summary>
    public int MaxEndpointsPerDomain { get; set; } = 10;

    /// <summary>
    /// Whether endpoints made by non-administrators may deliver to loopback, private and link-local
    /// addresses (default <c>false</c>: they reach public addresses only).
    /// </summary>
    public bool AllowPrivateTargets { get; set; }
}
