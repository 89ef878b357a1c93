using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// The defaults every M2M service shares: OpenTelemetry (with the opt-in Prometheus scrape
/// endpoint), health checks, service discovery and HTTP resilience. Nothing else belongs here.
/// </summary>
public static class Extensions
{
    /// <summary>Tag of the health checks that tell whether the process is alive (no dependency checked).</summary>
    public const string LiveTag = "live";

    /// <summary>Meter and activity source names of the platform's own instrumentation.</summary>
    public static readonly string[] PlatformInstrumentation = ["M2M.Ingest", "M2M.Storage", "M2M.Messaging", "M2M.Api", "M2M.Forwarding"];

    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.ConfigureOpenTelemetry();
        builder.AddDefaultHealthChecks();

        builder.Services.AddServiceDiscovery();
        builder.Services.ConfigureHttpClientDefaults(http =>
        {
            http.AddStandardResilienceHandler();
            http.AddServiceDiscovery();
        });
        return builder;
    }

    public static TBuilder ConfigureOpenTelemetry<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Logging.AddOpenTelemetry(logging =>
        {
            logging.IncludeFormattedMessage = true;
            logging.IncludeScopes = true;
        });

        var prometheus = PrometheusScraping.IsEnabled(builder.Configuration);
        builder.Services.AddOpenTelemetry()
            .WithMetrics(metrics =>
            {
                metrics
                    .AddAspNetCoreInstrumentation()
                    .AddHttpClientInstrumentation()
                    .AddRuntimeInstrumentation()
                    .AddMeter(PlatformInstrumentation);
                if (prometheus)
                {
                    metrics.AddPrometheusExporter();
                }
            })
            .WithTracing(tracing => tracing
                .AddSource(builder.Environment.ApplicationName)
                .AddSource(PlatformInstrumentation)
                .AddAspNetCoreInstrumentation(o =>
                    // Health probes and scrapes are polled every few seconds; tracing them only adds noise.
                    o.Filter = ctx => !ctx.Request.Path.StartsWithSegments(HealthPath) && !ctx.Request.Path.StartsWithSegments(AlivePath)
                        && !ctx.Request.Path.StartsWithSegments(PrometheusScraping.Path))
                .AddHttpClientInstrumentation());

        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            builder.Services.AddOpenTelemetry().UseOtlpExporter();
        }
        return builder;
    }

    public static TBuilder AddDefaultHealthChecks<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddHealthChecks()
            .AddCheck("self", () => HealthCheckResult.Healthy(), [LiveTag]);
        return builder;
    }

    private const string HealthPath = "/health";
    private const string AlivePath = "/alive";

    /// <summary>
    /// Maps <c>/health</c> (every check: ready to serve) and <c>/alive</c> (only the liveness checks).
    /// They answer in every environment: the orchestrator and the load balancer rely on them, and
    /// they reveal no more than a status word. With <c>M2M:Metrics:Prometheus=true</c>, also the
    /// Prometheus scrape endpoint <c>/metrics</c> (see <see cref="PrometheusScraping"/>).
    /// </summary>
    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        app.MapHealthChecks(HealthPath);
        app.MapHealthChecks(AlivePath, new HealthCheckOptions { Predicate = r => r.Tags.Contains(LiveTag) });
        PrometheusScraping.Map(app);
        return app;
    }
}
