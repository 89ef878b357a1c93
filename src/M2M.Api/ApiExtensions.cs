using System.Text.Json;
using System.Text.Json.Serialization;
using M2M.Api.Apis;
using M2M.Api.Auth;
using M2M.Api.Fleet;
using M2M.Api.Live;
using M2M.Console;
using M2M.Api.Http;
using M2M.Api.OpenApi;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Scalar.AspNetCore;

namespace M2M.Api;

/// <summary>Registers and maps the HTTP API.</summary>
public static class ApiExtensions
{
    /// <summary>Policy of the routes only administrators may use.</summary>
    public const string AdminPolicy = "admin";

    /// <summary>The default authentication scheme: forwards to the JWT bearer or the API-key handler.</summary>
    public const string CredentialScheme = "M2M";

    /// <summary>Services of the API: options, authentication, problem details, JSON rules, OpenAPI, the first admin.</summary>
    public static TBuilder AddApi<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        var services = builder.Services;
        services.AddOptions<ApiOptions>()
            .Bind(builder.Configuration.GetSection(ApiOptions.Section))
            .Validate(o => o.TokenLifetime > TimeSpan.Zero, "M2M:Api:TokenLifetime must be positive.")
            .Validate(o => o.RefreshTokenLifetime > TimeSpan.Zero, "M2M:Api:RefreshTokenLifetime must be positive.")
            .Validate(o => o.MaxRequestBodyBytes > 0, "M2M:Api:MaxRequestBodyBytes must be positive.")
            .Validate(o => o.LoginFreeFailures > 0 && o.LoginAddressFreeFailures > 0 && o.LoginUserAttackFailures > 0 && o.LoginMaxTrackedKeys >= 16
                && o.LoginMaxDelay >= LoginThrottle.BaseDelay && o.LoginWindow > TimeSpan.Zero && o.LoginTrustedAddressLifetime >= TimeSpan.Zero, "Login throttling limits must be positive (LoginMaxTrackedKeys at least 16, LoginMaxDelay at least 1 s).")
            .Validate(o => o.EventBufferPerClient > 0, "M2M:Api:EventBufferPerClient must be positive.")
            .Validate(o => o.FleetResyncInterval > TimeSpan.Zero, "M2M:Api:FleetResyncInterval must be positive.")
            .ValidateOnStart();
        services.AddOptions<AdminBootstrapOptions>().Bind(builder.Configuration.GetSection(AdminBootstrapOptions.Section));

        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<SigningKeyProvider>();
        services.AddSingleton<TokenService>();
        services.AddSingleton<LoginThrottle>();
        services.AddSingleton<CredentialHasher>();
        services.AddSingleton<RefreshTokenService>();
        services.AddHostedService<AdminBootstrap>();
        services.AddHostedService<RefreshTokenSweeper>();
        services.AddSingleton<FleetIndex>();
        services.AddHostedService(sp => sp.GetRequiredService<FleetIndex>());
        // Wraps the time-series store registered before (AddStorage) so that committed records reach live streams.
        services.AddLiveRecords();
        services.AddConsole(builder.Configuration);

        // One default scheme that hands API keys (Bearer m2mk_…) to their handler and everything else to JWT.
        services.AddAuthentication(CredentialScheme)
            .AddPolicyScheme(CredentialScheme, "Access token or API key", o => o.ForwardDefaultSelector = context =>
                ApiKeyAuthenticationHandler.CarriesApiKey(context) ? ApiKeyAuthenticationHandler.SchemeName : JwtBearerDefaults.AuthenticationScheme)
            .AddJwtBearer()
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        services.AddOptions<JwtBearerOptions>(JwtBearerDefaults.AuthenticationScheme)
            .Configure<SigningKeyProvider, IOptions<ApiOptions>>((o, keys, api) =>
            {
                o.MapInboundClaims = false;
                o.TokenValidationParameters = TokenService.ValidationParameters(keys.Key, api.Value.Issuer);
                o.Events = new JwtBearerEvents
                {
                    OnTokenValidated = CurrentUserCheck.OnTokenValidatedAsync,
                    OnChallenge = BearerChallenge.WriteProblemAsync,
                };
            });
        services.AddAuthorizationBuilder()
            .SetDefaultPolicy(new AuthorizationPolicyBuilder().RequireAuthenticatedUser().AddRequirements(new ApiKeyScopeRequirement()).Build())
            .AddPolicy(AdminPolicy, p => p.RequireAuthenticatedUser().RequireClaim(CallerClaims.Role, Storage.Entities.UserRoles.Admin));

        services.AddProblemDetails();
        services.AddExceptionHandler<ApiExceptionHandler>();
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        services.Configure<JsonOptions>(o => ConfigureJson(o.SerializerOptions));
        services.AddOpenApi(o =>
        {
            o.AddDocumentTransformer<ApiDocumentTransformer>();
            o.AddOperationTransformer<ApiOperationTransformer>();
        });
        return builder;
    }

    /// <summary>
    /// The JSON rules of the API: camelCase, enums as camelCase strings, numbers as numbers (not
    /// strings), unknown or missing required fields refused.
    /// </summary>
    public static void ConfigureJson(JsonSerializerOptions options)
    {
        options.NumberHandling = JsonNumberHandling.Strict;
        options.UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow;
        options.RespectNullableAnnotations = true;
        options.RespectRequiredConstructorParameters = true;
        options.AllowTrailingCommas = false;
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.CamelCase, allowIntegerValues: false));
    }

    /// <summary>Adds the API's middleware and maps every route under <c>/api</c>, the OpenAPI document and (in development) Scalar.</summary>
    public static WebApplication MapApi(this WebApplication app)
    {
        if (app.Services.GetRequiredService<IOptions<ApiOptions>>().Value.ServerTiming)
        {
            app.Use(ServerTiming.Middleware);
        }
        // Kestrel runs requests where their sockets complete (M2M:Api:InlineRequests, or Kestrel's own
        // setting): every route but the short reads goes to the thread pool first.
        if (app.Services.GetService<IOptions<SocketTransportOptions>>()?.Value.UnsafePreferInlineScheduling == true)
        {
            app.Use(InlineRequests.Middleware);
        }
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.Use(RequestBodyLimit);
        app.UseAuthentication();
        app.UseAuthorization();

        app.MapOpenApi();
        if (app.Environment.IsDevelopment())
        {
            app.MapScalarApiReference();
        }

        var api = app.MapGroup("/api").RequireAuthorization();
        api.MapAuthApi();
        api.MapDevicesApi();
        api.MapDeviceAuthApi();
        api.MapDeviceSettingsApi();
        api.MapDeviceCommandsApi();
        api.MapDeviceDataApi();
        api.MapFilesApi();
        api.MapFirmwareAccessApi();
        api.MapAdminApi();
        api.MapMaintenanceApi();
        api.MapApiKeysApi();
        api.MapRegistryApi();
        api.MapEventsApi();
        // Forwarding runs where records are committed by the batch writer (the single-process server,
        // which registers it with AddForwarding); a node without it (the distributed API node) has no
        // webhook routes rather than routes whose services are missing.
        // (Asked without resolving it: resolving would open the database while the app is only being built.)
        if (app.Services.GetService<IServiceProviderIsService>()?.IsService(typeof(M2M.Forwarding.WebhookDirectory)) == true)
        {
            api.MapWebhooksApi();
        }
        api.MapBackupApi();
        api.MapRegistryTransferApi();
        api.MapFleetApi();
        api.MapConsoleApi();

        // The web console at "/" (static files and the client routes; never /api, /health, /openapi…).
        app.MapConsole();
        return app;
    }

    /// <summary>
    /// Bodies of API routes are limited to <see cref="ApiOptions.MaxRequestBodyBytes"/>, except the
    /// routes marked <see cref="StreamingUpload"/> (files of any size, streamed to storage).
    /// </summary>
    private static Task RequestBodyLimit(HttpContext context, RequestDelegate next)
    {
        if (context.Request.Path.StartsWithSegments("/api")
            && context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } feature)
        {
            var streaming = context.GetEndpoint()?.Metadata.GetMetadata<StreamingUpload>() is not null;
            feature.MaxRequestBodySize = streaming ? null : context.RequestServices.GetRequiredService<IOptions<ApiOptions>>().Value.MaxRequestBodyBytes;
        }
        return next(context);
    }
}

/// <summary>Marks a route whose request body is streamed to storage and has no size limit.</summary>
public sealed class StreamingUpload;
