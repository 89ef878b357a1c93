using M2M.Forwarding;
using M2M.Storage.Forwarding;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

// DI extensions live in the DI namespace (the ASP.NET Core convention), so hosts need no extra using.
namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers forwarding to webhooks in a host.</summary>
public static class ForwardingExtensions
{
    /// <summary>
    /// Webhook endpoints (<see cref="IWebhookStore"/>), the signing key, and — unless
    /// <c>M2M:Forwarding:Enabled</c> is <c>false</c> — the feed router the batch writer asks before each
    /// commit, the capture of bus events and the dispatcher that delivers. Needs a storage backend
    /// that registers an <see cref="IForwardingFeed"/>.
    /// </summary>
    public static TBuilder AddForwarding<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        var services = builder.Services;
        services.AddOptions<ForwardingOptions>()
            .Bind(builder.Configuration.GetSection(ForwardingOptions.Section))
            .Validate(o => o.MaxBatchItems is > 0 and <= 10_000, "M2M:Forwarding:MaxBatchItems must be 1 to 10000.")
            .Validate(o => o.MaxBatchBytes > 0 && o.EventQueueCapacity > 0 && o.MaxEndpointsPerDomain > 0, "M2M:Forwarding limits must be positive.")
            .Validate(o => o.RequestTimeout > TimeSpan.Zero && o.MinRetryDelay > TimeSpan.Zero && o.MaxRetryDelay >= o.MinRetryDelay
                && o.PollInterval > TimeSpan.Zero && o.RefreshInterval > TimeSpan.Zero && o.TrimInterval > TimeSpan.Zero && o.DeviceCacheLifetime >= TimeSpan.Zero,
                "M2M:Forwarding times must be positive (MaxRetryDelay at least MinRetryDelay).")
            .ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IWebhookStore>(sp => new WebhookStore(
            sp.GetRequiredService<M2M.Storage.Registry.IRegistry>(), sp.GetRequiredService<M2M.Storage.Entities.IDomainStore>(), sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton<ForwardingKey>();
        services.TryAddSingleton<WebhookDirectory>();
        services.TryAddSingleton<DeviceDirectory>();

        if (!builder.Configuration.GetValue(ForwardingOptions.Section + ":" + nameof(ForwardingOptions.Enabled), true))
        {
            return builder;
        }
        services.TryAddSingleton<IFeedRouter, ForwardingRouter>();
        services.TryAddSingleton(sp => new ForwardingMetrics(
            sp.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), () => sp.GetRequiredService<WebhookDispatcher>().Backlogs()));
        services.TryAddSingleton<WebhookDelivery>();
        services.TryAddSingleton<WebhookDispatcher>();
        services.AddHostedService(sp => sp.GetRequiredService<WebhookDispatcher>());
        services.AddHostedService<EventCapture>();
        return builder;
    }
}
