using M2M.Ingest;
using M2M.Messaging.Nats;
using M2M.Server;
using M2M.Storage;

// An ingest node: holds device connections, publishes records to the JetStream storage stream
// (the stream's acknowledgement answers the devices' barriers), receives the pushes of the devices
// it holds on their NATS subjects and shares their presence. Configured by ConnectionStrings:nats,
// ConnectionStrings:m2mdb, M2M:Storage:Backend and M2M:Ingest (ports, node name, limits).
// A start that fails (a port in use, no database...) is logged and exits with code 1.
return await HostRunner.RunAsync(() =>
{
    var builder = WebApplication.CreateBuilder(args);

    builder.AddServiceDefaults();
    builder.AddStorage();
    builder.AddStorageBackend();
    builder.AddNatsBus();
    builder.AddIngest();

    var app = builder.Build();
    app.MapDefaultEndpoints();
    return app;
});
