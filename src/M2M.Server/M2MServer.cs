using M2M.Api;
using M2M.Ingest;
using M2M.Messaging;
using M2M.Storage;

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
        builder.AddForwarding();
        builder.AddApi();
        configure?.Invoke(builder);

        var app = builder.Build();
        app.MapDefaultEndpoints();
        app.MapApi();
        return app;
    }
}
