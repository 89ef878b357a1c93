using M2M.Api;
using M2M.Ingest;
using M2M.Messaging.Nats;
using M2M.Server;
using M2M.Storage;

// An API node: the HTTP API over the shared database; pushes to devices go out on their NATS
// subjects, /api/events streams the events of every ingest node, and a device's connected /
// lastSeen come from the shared presence. Stateless: run as many as the HTTP load needs.
// A start that fails (a port in use, no database...) is logged and exits with code 1.
return await HostRunner.RunAsync(() =>
{
    var builder = WebApplication.CreateBuilder(args);

    builder.AddServiceDefaults();
    builder.AddStorage();
    builder.AddStorageBackend();
    builder.AddNatsBus();
    // The records the storage writers commit, for this node's live streams and fleet map.
    builder.AddNatsCommittedRecords();
    // The ingest module without listeners: the API's services that read this node's connection registry
    // find an empty one. Forced here (last configuration source), not only in appsettings.json: an API node
    // started from another working directory must not open device ports.
    builder.Configuration.AddInMemoryCollection([new("M2M:Ingest:Enabled", "false")]);
    builder.AddIngest();
    builder.AddApi();

    var app = builder.Build();
    app.MapDefaultEndpoints();
    app.MapApi();
    return app;
});
