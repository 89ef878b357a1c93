using M2M.Messaging.Nats;
using M2M.Server;
using M2M.Storage;

// A storage writer: pulls batches of records from the JetStream storage stream (a durable consumer
// that every writer shares), commits each batch in one transaction, then acknowledges it. Add
// writers when the stream's backlog grows; they split the messages between them.
// A start that fails (no database...) is logged and exits with code 1.
return await HostRunner.RunAsync(() =>
{
    var builder = WebApplication.CreateBuilder(args);

    builder.AddServiceDefaults();
    builder.AddStorage();
    builder.AddStorageBackend();
    builder.AddNatsStorageWriter();

    var app = builder.Build();
    app.MapDefaultEndpoints();
    return app;
});
