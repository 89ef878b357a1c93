using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;
using NATS.Client.KeyValueStore;

namespace M2M.Messaging.Nats;

/// <summary>
/// The JetStream objects of the platform, created or updated on first use (any node may be first):
/// the <c>storage</c> stream (file storage, work-queue retention: a message is gone once a writer
/// acknowledged it), the converter stream, the writers' durable pull consumer and the presence buckets.
/// </summary>
public sealed class NatsInfrastructure(NatsConnection connection, NatsNames names, IOptions<NatsBusOptions> options, ILogger<NatsInfrastructure> logger)
{
    private readonly SemaphoreSlim _lock = new(1, 1);
    private bool _streams;
    private INatsJSConsumer? _consumer;
    private INatsKVStore? _presence;
    private INatsKVStore? _leases;

    public NatsConnection Connection { get; } = connection;

    public NatsJSContext JetStream { get; } = new(connection);

    public NatsNames Names { get; } = names;

    /// <summary>Creates (or updates) the storage and converter streams.</summary>
    public async ValueTask EnsureStreamsAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _streams))
        {
            return;
        }
        await _lock.WaitAsync(cancellationToken);
        try
        {
            if (_streams)
            {
                return;
            }
            var o = options.Value;
            await JetStream.CreateOrUpdateStreamAsync(new StreamConfig(Names.StorageStream, [Names.StorageSubject])
            {
                Description = "M2M records to store; storage writers consume and acknowledge them.",
                Storage = StreamConfigStorage.File,
                Retention = StreamConfigRetention.Workqueue,
                // A full stream refuses new records, which stops the ingest nodes' barrier: back-pressure, not loss.
                Discard = StreamConfigDiscard.New,
                NumReplicas = o.Replicas,
                DuplicateWindow = TimeSpan.FromMinutes(2),
            }, cancellationToken);
            await JetStream.CreateOrUpdateStreamAsync(new StreamConfig(Names.ConverterStream, [Names.ConverterSubjects])
            {
                Description = "M2M converter topics (channel translation), for external converters.",
                Storage = StreamConfigStorage.File,
                Retention = StreamConfigRetention.Limits,
                MaxAge = o.ConverterRetention,
                NumReplicas = o.Replicas,
            }, cancellationToken);
            logger.LogInformation("JetStream streams {Storage} ({Subject}) and {Converters} ({ConverterSubjects}) ready",
                Names.StorageStream, Names.StorageSubject, Names.ConverterStream, Names.ConverterSubjects);
            Volatile.Write(ref _streams, true);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Makes the next <see cref="EnsureStreamsAsync"/> check the streams again (after a failure).</summary>
    public void InvalidateStreams() => Volatile.Write(ref _streams, false);

    /// <summary>The durable pull consumer shared by every storage writer.</summary>
    public async ValueTask<INatsJSConsumer> GetWriterConsumerAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _consumer) is { } existing)
        {
            return existing;
        }
        await EnsureStreamsAsync(cancellationToken);
        var o = options.Value;
        var consumer = await JetStream.CreateOrUpdateConsumerAsync(Names.StorageStream, new ConsumerConfig(Names.WriterConsumer)
        {
            DurableName = Names.WriterConsumer,
            Description = "M2M storage writers: commit to the database, then acknowledge.",
            AckPolicy = ConsumerConfigAckPolicy.Explicit,
            AckWait = o.WriterAckWait,
            MaxAckPending = o.WriterMaxAckPending,
            MaxDeliver = -1,
            DeliverPolicy = ConsumerConfigDeliverPolicy.All,
        }, cancellationToken);
        Volatile.Write(ref _consumer, consumer);
        return consumer;
    }

    /// <summary>
    /// The device presence bucket (memory storage: after a restart of the server, every node finds
    /// its lease gone and claims its devices again). Entries do not expire: a claim is live while its
    /// node's lease is (<see cref="GetPresenceLeasesAsync"/>).
    /// </summary>
    public async ValueTask<INatsKVStore> GetPresenceAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _presence) is { } existing)
        {
            return existing;
        }
        var store = await CreateBucketAsync(Names.PresenceBucket, "M2M device presence: the live connection of each connected device.", TimeSpan.Zero, cancellationToken);
        Volatile.Write(ref _presence, store);
        return store;
    }

    /// <summary>The ingest nodes' presence leases: one entry per node, expiring after <see cref="NatsBusOptions.PresenceExpiry"/> unless renewed.</summary>
    public async ValueTask<INatsKVStore> GetPresenceLeasesAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _leases) is { } existing)
        {
            return existing;
        }
        var store = await CreateBucketAsync(Names.PresenceLeaseBucket, "M2M presence leases: the run of each live ingest node.", options.Value.PresenceExpiry, cancellationToken);
        Volatile.Write(ref _leases, store);
        return store;
    }

    private async ValueTask<INatsKVStore> CreateBucketAsync(string name, string description, TimeSpan maxAge, CancellationToken cancellationToken)
    {
        var kv = new NatsKVContext(JetStream);
        return await kv.CreateOrUpdateStoreAsync(new NatsKVConfig(name)
        {
            Description = description,
            History = 1,
            MaxAge = maxAge,
            Storage = NatsKVStorageType.Memory,
            NumberOfReplicas = options.Value.Replicas,
        }, cancellationToken);
    }
}
