using M2M.Server;

var app = M2MServer.Build(args);
app.Run();
