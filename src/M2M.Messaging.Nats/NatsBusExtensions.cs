using M2M.Messaging.Presence;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NATS.Client.Core;

namespace M2M.Messaging.Nats;

/// <summary>Registers the NATS bus in a host (the distributed topology).</summary>
public static class NatsBusExtensions
{
    /// <summary>Name of the NATS health check.</summary>
    public const string HealthCheckName = "nats";

    /// <summary>
    /// The NATS bus of an ingest or API node: events and pushes on core subjects
    /// (<see cref="IMessageBus"/>), the <c>storage</c> topic as a JetStream stream whose
    /// acknowledgement is the barrier (<see cref="IRecordBus"/>), and presence in a key-value bucket
    /// (<see cref="IDevicePresence"/>, <see cref="IPresenceStore"/>). Replaces the in-process bus
    /// whether <c>AddBus</c> was called before or not. The server is <c>ConnectionStrings:nats</c>.
    /// </summary>
    public static TBuilder AddNatsBus<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.AddNatsConnection();
        var services = builder.Services;
        services.TryAddSingleton<JetStreamRecordWriter>();
        services.AddHostedService(sp => sp.GetRequiredService<JetStreamRecordWriter>());
        services.RemoveAll<IMessageBus>();
        services.AddSingleton<IMessageBus, NatsMessageBus>();
        services.RemoveAll<IRecordBus>();
        services.AddSingleton<IRecordBus>(sp => new M2M.Messaging.InProcess.RecordWriterBus(sp.GetRequiredService<JetStreamRecordWriter>()));
        services.TryAddSingleton<NatsPresenceStore>();
        services.RemoveAll<IPresenceStore>();
        services.AddSingleton<IPresenceStore>(sp => sp.GetRequiredService<NatsPresenceStore>());
        services.RemoveAll<IDevicePresence>();
        services.AddSingleton<IDevicePresence>(sp => sp.GetRequiredService<NatsPresenceStore>());
        // Watched only where asked (the fleet of an API node).
        services.TryAddSingleton<NatsConnectedDevices>();
        services.RemoveAll<IConnectedDevices>();
        services.AddSingleton<IConnectedDevices>(sp => sp.GetRequiredService<NatsConnectedDevices>());
        return builder;
    }

    /// <summary>
    /// An API node's feed of committed records: what the storage writers commit reaches this node's
    /// live streams (<c>/api/events?records=true</c>) and fleet map (<see cref="CommittedRecordsFeed"/>).
    /// </summary>
    public static TBuilder AddNatsCommittedRecords<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.AddNatsConnection();
        builder.Services.TryAddSingleton<CommittedRecordsFeed>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<CommittedRecordsFeed>());
        return builder;
    }

    /// <summary>
    /// A storage writer: consumes the <c>storage</c> stream and commits to the registered
    /// <c>ITimeSeriesStore</c> (several writers share one durable consumer).
    /// </summary>
    public static TBuilder AddNatsStorageWriter<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.AddNatsConnection();
        builder.Services.TryAddSingleton<StorageWriterService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<StorageWriterService>());
        return builder;
    }

    /// <summary>The connection to the NATS server (one per process), its options and its health check.</summary>
    public static TBuilder AddNatsConnection<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        var services = builder.Services;
        if (services.Any(d => d.ServiceType == typeof(NatsInfrastructure)))
        {
            return builder;
        }
        services.AddOptions<NatsBusOptions>()
            .Bind(builder.Configuration.GetSection(NatsBusOptions.Section))
            .PostConfigure(o => o.Url ??= builder.Configuration.GetConnectionString(NatsBusOptions.ConnectionStringName))
            .Validate(o => !string.IsNullOrWhiteSpace(o.Url), $"The NATS server is not configured: set ConnectionStrings:{NatsBusOptions.ConnectionStringName} (e.g. nats://localhost:4222).")
            .Validate(o => o.Replicas is >= 1 and <= 5, $"{NatsBusOptions.Section}:Replicas must be in 1..5.")
            .Validate(o => o.PublishQueueCapacity > 0 && o.PublishBatchRecords > 0 && o.PublishBatchBytes > 0 && o.PublishMaxInFlight > 0
                && o.WriterBatchRecords > 0 && o.WriterMaxAckPending > 0, $"{NatsBusOptions.Section} sizes must be positive.")
            .Validate(o => o.WriterAckWait >= TimeSpan.FromSeconds(1) && o.PresenceExpiry >= TimeSpan.FromSeconds(1) && o.ConverterRetention > TimeSpan.Zero,
                $"{NatsBusOptions.Section} times must be at least a second.")
            .ValidateOnStart();
        services.TryAddSingleton<NatsNames>();
        services.TryAddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<NatsBusOptions>>().Value;
            return new NatsConnection(new NatsOpts
            {
                Url = NormalizeUrl(o.Url!),
                Name = builder.Environment.ApplicationName,
                LoggerFactory = sp.GetRequiredService<ILoggerFactory>(),
                // The process starts even when the server is not up yet, and reconnects forever.
                RetryOnInitialConnect = true,
                MaxReconnectRetry = -1,
                ReconnectWaitMax = TimeSpan.FromSeconds(2),
            });
        });
        services.TryAddSingleton<INatsConnection>(sp => sp.GetRequiredService<NatsConnection>());
        services.TryAddSingleton<NatsInfrastructure>();
        services.AddHostedService<NatsConnector>();
        services.AddHealthChecks().AddCheck<NatsHealthCheck>(HealthCheckName);
        return builder;
    }

    /// <summary>An Aspire-style connection string (<c>nats://host:port</c>, or <c>host:port</c>) as NATS server URLs.</summary>
    public static string NormalizeUrl(string connectionString)
    {
        var parts = connectionString.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return string.Join(',', parts.Select(p => p.Contains("://", StringComparison.Ordinal) ? p : "nats://" + p));
    }
}

/// <summary>
/// Opens the NATS connection when the host starts (the client connects lazily otherwise, and a
/// node that only subscribes on demand would look disconnected). Does not hold the start up: an
/// unreachable server is retried in the background, and the health check reports it meanwhile.
/// </summary>
internal sealed class NatsConnector(NatsConnection connection, ILogger<NatsConnector> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested && connection.ConnectionState != NatsConnectionState.Open)
        {
            try
            {
                await connection.ConnectAsync();
                return;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                logger.LogWarning(e, "Cannot connect to NATS at {Url}; retrying", connection.Opts.Url);
                await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }
}

/// <summary>
/// Healthy while the connection to NATS is open and this process's JetStream work succeeds;
/// degraded while publishes or commits are being retried; unhealthy while disconnected.
/// </summary>
public sealed class NatsHealthCheck(NatsConnection connection, IServiceProvider services) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (connection.ConnectionState != NatsConnectionState.Open)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy($"The NATS connection is {connection.ConnectionState}."));
        }
        if (services.GetService<JetStreamRecordWriter>() is { IsFailing: true })
        {
            return Task.FromResult(HealthCheckResult.Degraded("Publishing records to JetStream fails; retrying."));
        }
        if (services.GetService<StorageWriterService>() is { IsFailing: true })
        {
            return Task.FromResult(HealthCheckResult.Degraded("Committing records to the database fails; retrying."));
        }
        return Task.FromResult(HealthCheckResult.Healthy("Connected to NATS."));
    }
}
