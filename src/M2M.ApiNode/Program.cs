using M2M.Api;
using M2M.Ingest;
using M2M.Messaging.Nats;
using M2M.Server;
using M2M.Storage;

// An API node: the HTTP API over the shared database; pushes to devices go out on their NATS
// subjects, /api/events streams the events of every ingest node, and a device's connected /
// lastSeen come from the shared presence. Stateless: run as many as the HTTP load needs.
var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddStorage();
builder.AddStorageBackend();
builder.AddNatsBus();
// The ingest module without listeners (M2M:Ingest:Enabled=false in appsettings.json): the API's
// services that read this node's connection registry find an empty one.
builder.AddIngest();
builder.AddApi();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapApi();
app.Run();
