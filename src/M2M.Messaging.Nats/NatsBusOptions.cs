namespace M2M.Messaging.Nats;

/// <summary>
/// The NATS bus (configuration section <c>M2M:Nats</c>; the server address is the connection string
/// <c>ConnectionStrings:nats</c>, as Aspire sets it, e.g. <c>nats://host:4222</c>).
/// </summary>
public sealed class NatsBusOptions
{
    public const string Section = "M2M:Nats";

    /// <summary>Name of the connection string of the NATS server.</summary>
    public const string ConnectionStringName = "nats";

    /// <summary>The server URL(s), comma-separated; from <c>ConnectionStrings:nats</c> when not set here.</summary>
    public string? Url { get; set; }

    /// <summary>
    /// Prefix of every subject, stream, consumer and bucket name (e.g. <c>test1</c> gives subjects
    /// <c>test1.storage</c>, stream <c>test1_M2M_STORAGE</c>): lets several platforms, or tests, share one server.
    /// </summary>
    public string? Prefix { get; set; }

    /// <summary>The JetStream stream of the <c>storage</c> topic.</summary>
    public string StorageStream { get; set; } = "M2M_STORAGE";

    /// <summary>The JetStream stream that keeps the converter topics (<c>converter.&gt;</c>).</summary>
    public string ConverterStream { get; set; } = "M2M_CONVERTERS";

    /// <summary>The durable pull consumer that storage writers share.</summary>
    public string WriterConsumer { get; set; } = "storage-writers";

    /// <summary>The JetStream key-value bucket of device presence (one entry per connected device).</summary>
    public string PresenceBucket { get; set; } = "m2m-presence";

    /// <summary>The JetStream key-value bucket of the ingest nodes' presence leases (one entry per node).</summary>
    public string PresenceLeaseBucket { get; set; } = "m2m-presence-nodes";

    /// <summary>Replicas of the streams and the bucket (1 on a single server; 3 on a cluster).</summary>
    public int Replicas { get; set; } = 1;

    /// <summary>How long the converter stream keeps messages for external converters.</summary>
    public TimeSpan ConverterRetention { get; set; } = TimeSpan.FromDays(1);

    /// <summary>
    /// A node's presence lease not renewed for this long expires, and with it every device claim of
    /// the node (it is gone); several times the ingest nodes' <c>M2M:Ingest:PresenceRefresh</c>.
    /// </summary>
    public TimeSpan PresenceExpiry { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Ingest: records accepted and not yet sent to JetStream before producers wait.</summary>
    public int PublishQueueCapacity { get; set; } = 50_000;

    /// <summary>Ingest: most records in one JetStream message.</summary>
    public int PublishBatchRecords { get; set; } = 500;

    /// <summary>Ingest: most bytes in one JetStream message (keep under the server's <c>max_payload</c>).</summary>
    public int PublishBatchBytes { get; set; } = 256 * 1024;

    /// <summary>Ingest: JetStream publishes awaiting their acknowledgement at once (the pipeline depth).</summary>
    public int PublishMaxInFlight { get; set; } = 64;

    /// <summary>
    /// Writer: publish the records of every committed storage message again on the core subject
    /// <c>records.committed</c> (not durable), which API nodes feed to their live streams and fleet map.
    /// Costs the writer one publish of bytes it already holds per message; off, API nodes see no live records.
    /// </summary>
    public bool PublishCommittedRecords { get; set; } = true;

    /// <summary>Writer: most records committed in one transaction.</summary>
    public int WriterBatchRecords { get; set; } = 5_000;

    /// <summary>Writer: messages delivered and not yet acknowledged, per consumer (all writers together).</summary>
    public int WriterMaxAckPending { get; set; } = 1_000;

    /// <summary>Writer: a message not acknowledged within this time is delivered again (a writer died).</summary>
    public TimeSpan WriterAckWait { get; set; } = TimeSpan.FromSeconds(30);
}
