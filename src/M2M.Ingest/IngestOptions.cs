namespace M2M.Ingest;

/// <summary>Device-facing listeners, session timings and limits (configuration section <c>M2M:Ingest</c>).</summary>
public sealed class IngestOptions
{
    public const string Section = "M2M:Ingest";

    /// <summary>Whether the listeners are started (a host may add the module for its services only).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>TCP port of the binary M2MP protocol; 0 picks a free port (see <see cref="Hosting.IngestEndpoints"/>).</summary>
    public int M2mpPort { get; set; } = 3010;

    /// <summary>TCP port of the line-based ALIP protocol; 0 picks a free port.</summary>
    public int AlipPort { get; set; } = 3050;

    /// <summary>
    /// This node's name, the prefix of connection ids (<c>&lt;node&gt;:&lt;counter&gt;</c>) and the
    /// <c>_from</c> of bus messages; defaults to the machine name plus a per-process suffix.
    /// </summary>
    public string? NodeName { get; set; }

    /// <summary>
    /// Distributed only: how often this node renews its presence lease, which keeps the claims of the
    /// devices it holds live; the presence store lets a lease not renewed for a few periods expire (a dead node).
    /// </summary>
    public TimeSpan PresenceRefresh { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Distributed only: how far behind the device's real last activity the shared last-seen time of a
    /// connected device may fall before this node updates it (checked every <see cref="PresenceRefresh"/>).
    /// An idle device is not written at all between its pings.
    /// </summary>
    public TimeSpan PresenceLastSeenInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Whether the plain-TCP listeners (<see cref="M2mpPort"/>, <see cref="AlipPort"/>) are started; turn off when devices use TLS.</summary>
    public bool PlainPorts { get; set; } = true;

    /// <summary>The TLS listeners (<c>M2M:Ingest:Tls</c>).</summary>
    public Authentication.IngestTlsOptions Tls { get; set; } = new();

    /// <summary>The server default device policy and identification protections (<c>M2M:Ingest:Auth</c>).</summary>
    public Authentication.DeviceAuthOptions Auth { get; set; } = new();

    /// <summary>
    /// Whether an unknown ident creates its device in the <c>default</c> domain (server default of
    /// the policy; see <see cref="Authentication.DeviceAuthOptions"/> for patterns and rate).
    /// </summary>
    public bool AutoRegister { get; set; } = true;

    /// <summary>A connection that has not identified within this time is closed.</summary>
    public TimeSpan IdentificationTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>After this long without receiving anything the server pings the device (<c>03 N</c> / <c>A n</c>).</summary>
    public TimeSpan PingAfterIdle { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>The server pings only when it has sent nothing for this long.</summary>
    public TimeSpan PingMinSendGap { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>After this long without receiving anything an ALIP connection gets <c>QUIT idle timeout</c> and is closed.</summary>
    public TimeSpan IdleDisconnect { get; set; } = TimeSpan.FromHours(12);

    /// <summary>
    /// After this long without receiving anything an M2MP connection is closed; <see cref="TimeSpan.Zero"/>
    /// (the default) never closes one: the M2MP spec only has the server's pings, and a dead peer is
    /// found when those can no longer be written.
    /// </summary>
    public TimeSpan M2mpIdleDisconnect { get; set; } = TimeSpan.Zero;

    /// <summary>A given <c>name=value</c> setting is not re-sent on the same connection within this time.</summary>
    public TimeSpan SettingResendInterval { get; set; } = TimeSpan.FromSeconds(40);

    /// <summary>Records more than this far in the future are stored but counted and logged as suspicious.</summary>
    public TimeSpan FutureTolerance { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Open device connections per node; new ones over it are closed at once. The node lowers it to
    /// its open-files limit minus <see cref="ReservedFileDescriptors"/> (logged at start).
    /// </summary>
    public int MaxConnections { get; set; } = 100_000;

    /// <summary>
    /// File descriptors of the process kept for everything but device connections: the storage's
    /// files (RocksDB keeps up to <c>M2M:Storage:Rocks:MaxOpenFiles</c> open), HTTP connections and
    /// the runtime (about two per loaded assembly). The device connection limit is the open-files
    /// limit (<c>ulimit -n</c>) minus this.
    /// </summary>
    public int ReservedFileDescriptors { get; set; } = 2048;

    /// <summary>Largest M2MP frame (bytes on the wire); a larger one closes the connection.</summary>
    public int MaxFrameSize { get; set; } = 1024 * 1024;

    /// <summary>Longest ALIP line (bytes, without the <c>\n</c>); longer ones are refused with <c>ERR</c> and skipped.</summary>
    public int MaxLineLength { get; set; } = 4096;

    /// <summary>
    /// Largest M2MP frame (bytes on the wire) and longest ALIP line accepted before the device is
    /// identified: enough for an identification (at most 257 bytes), so that a connection that has
    /// proven nothing cannot make the node buffer large frames. A larger M2MP frame closes the
    /// connection; a longer ALIP line is refused with <c>ERR</c> and skipped.
    /// </summary>
    public int MaxUnidentifiedMessageSize { get; set; } = 512;

    /// <summary>
    /// Network buffer memory (bytes) that the memory pools must have released before the node runs
    /// one aggressive garbage collection to give it back to the system (at most once a minute); 0 = never.
    /// </summary>
    public long MemoryTrimThreshold { get; set; } = 32L << 20;

    /// <summary>
    /// Bytes the process must have allocated since the last trim before a quiet node runs one aggressive
    /// garbage collection (at most once a minute; 0 = never), provided its working set grew by a quarter
    /// of this since then. A node is quiet when it allocated less than a sixteenth of this in the last
    /// ten seconds. After a reconnect storm or a burst of records, the heap's free space goes back to
    /// the system instead of staying with the garbage collector, which keeps it for the next burst.
    /// </summary>
    public long IdleTrimAllocatedBytes { get; set; } = 128L << 20;

    /// <summary>
    /// Threads of the node's own that run the device sessions (parsing, records, answers); 0 runs them
    /// on the .NET thread pool, shared with HTTP requests and everything else of the process. With
    /// threads of their own, an HTTP request does not queue behind session work in the pool's queue
    /// (<see cref="Hosting.SessionScheduler"/>).
    /// </summary>
    public int SessionThreads { get; set; }

    /// <summary>
    /// Linux only, with <see cref="SessionThreads"/>: how many nice steps (0–19) the session threads take
    /// below the rest of the process, so that HTTP requests and the storage writer win the processors
    /// while they are all busy; 0 keeps the process's priority.
    /// </summary>
    public int SessionThreadNice { get; set; }

    /// <summary>
    /// Bytes written to a device and not yet taken by it; a device that stays over it for
    /// <see cref="WriteTimeout"/> is disconnected. Applies to the <see cref="DeviceTransport.Kestrel"/>
    /// transport (its output pipe); with <see cref="DeviceTransport.Lean"/> the kernel's socket buffers are the limit.
    /// </summary>
    public long MaxPendingOutboundBytes { get; set; } = 256 * 1024;

    /// <summary>
    /// The device listeners' socket transport: <see cref="DeviceTransport.Lean"/> (default) holds a
    /// connection as its socket with a reader and a writer on it (no buffer while idle, ~1 KiB less
    /// managed memory per connection; a device that does not read makes a flush wait once the kernel's
    /// socket buffers are full); <see cref="DeviceTransport.Kestrel"/> is Kestrel's socket transport (two
    /// pipes and a send loop per connection; <see cref="MaxPendingOutboundBytes"/> bytes may wait in its
    /// output pipe).
    /// </summary>
    public DeviceTransport Transport { get; set; } = DeviceTransport.Lean;

    /// <summary>How long a write to a device may wait for the device to read.</summary>
    public TimeSpan WriteTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Records per second per connection; 0 = unlimited. Over it the connection is slowed down (not dropped).</summary>
    public int MaxRecordsPerSecond { get; set; }

    /// <summary>Largest firmware chunk returned by ALIP <c>F G</c>; larger requests are clamped.</summary>
    public int FirmwareChunkMax { get; set; } = 4096;

    /// <summary>
    /// How long an in-process converter may take for one frame; past it the frame counts as not converted
    /// (its raw record is stored as always) and the session goes on.
    /// </summary>
    public TimeSpan ConverterTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Whether the ALIP <c>DB</c> diagnostics commands are answered.</summary>
    public bool Diagnostics { get; set; }

    /// <summary>How long a barrier (<c>02 N</c> / <c>A x</c>) may wait for storage before the connection is closed unanswered.</summary>
    public TimeSpan BarrierTimeout { get; set; } = TimeSpan.FromMinutes(2);
}

/// <summary>The socket transport of the device listeners (<see cref="IngestOptions.Transport"/>).</summary>
public enum DeviceTransport
{
    /// <summary>Kestrel's socket transport (input and output pipes, receive and send loops).</summary>
    Kestrel,

    /// <summary>The ingest module's own (default): reader and writer straight on the socket, zero-byte reads.</summary>
    Lean,
}
