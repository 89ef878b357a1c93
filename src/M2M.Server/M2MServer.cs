using M2M.Api;
using M2M.Api.Http;
using M2M.Ingest;
using M2M.Messaging;
using M2M.Storage;
using M2M.Storage.Forwarding;
using M2M.Storage.Rocks;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Options;

namespace M2M.Server;

/// <summary>
/// The single-process platform: every module composed in one host with the storage backend the
/// configuration names (embedded RocksDB by default) and the in-process bus. <c>Program</c> runs it;
/// tests build it the same way and start it on free ports.
/// </summary>
public static class M2MServer
{
    /// <summary>HTTP address used when neither <c>--urls</c> nor <c>ASPNETCORE_URLS</c> says otherwise.</summary>
    public const string DefaultUrls = "http://localhost:5080";

    /// <summary>
    /// Builds the server; <paramref name="configure"/> runs after the modules are added (a host or a test
    /// adds its own services there, e.g. an in-process converter with <c>AddChannelConverter</c>).
    /// </summary>
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        if (string.IsNullOrWhiteSpace(builder.Configuration["urls"]))
        {
            builder.WebHost.UseUrls(DefaultUrls);
        }

        builder.AddServiceDefaults();
        builder.AddStorage();
        builder.AddStorageBackend();
        builder.AddBus();
        builder.AddIngest();
        // Forwarding keeps its queue in the backend's feed, committed with the records: only a backend
        // that has one (RocksDB) forwards; on another the webhook routes are absent (docs/forwarding.md).
        if (builder.Services.Any(d => d.ServiceType == typeof(IForwardingFeed)))
        {
            builder.AddForwarding();
        }
        builder.AddApi();
        var inlineRequests = builder.Configuration.GetValue<bool>($"{ApiOptions.Section}:{nameof(ApiOptions.InlineRequests)}");
        if (inlineRequests)
        {
            // With the runtime's switch every socket of the process completes on its event thread: the
            // database's too on PostgreSQL, whose continuations would then hold up the HTTP and device sockets.
            if (StorageBackends.NameOf(builder.Configuration) != StorageBackends.Rocks)
            {
                throw new InvalidOperationException(
                    $"{ApiOptions.Section}:{nameof(ApiOptions.InlineRequests)} needs the RocksDB backend (a PostgreSQL connection's completions would run on the socket threads too).");
            }
            // The device listeners set their own scheduling (IngestServer): this is HTTP's.
            builder.Services.Configure<SocketTransportOptions>(o => o.UnsafePreferInlineScheduling = true);
        }
        // Both modules share the process's descriptors: RocksDB's open files must fit in what ingest keeps aside.
        builder.Services.AddOptions<IngestOptions>()
            .Validate<IOptions<RocksStoreOptions>>(
                (ingest, rocks) => rocks.Value.MaxOpenFiles is >= 20 && rocks.Value.MaxOpenFiles < ingest.ReservedFileDescriptors,
                "M2M:Storage:Rocks:MaxOpenFiles must be at least 20 and below M2M:Ingest:ReservedFileDescriptors (the descriptors kept for storage, HTTP and the runtime).");

        configure?.Invoke(builder);
        var app = builder.Build();
        app.MapDefaultEndpoints();
        app.MapApi();
        if (inlineRequests)
        {
            if (InlineRequests.RuntimeSwitchOn)
            {
                app.Logger.LogInformation("Short API reads run on the socket threads ({Switch}=1)", InlineRequests.RuntimeSwitch);
            }
            else
            {
                app.Logger.LogWarning("M2M:Api:InlineRequests is on but {Switch} is not 1 in the environment: API reads run where the runtime hands socket events to the thread pool, not on the socket threads", InlineRequests.RuntimeSwitch);
            }
        }
        return app;
    }
}
