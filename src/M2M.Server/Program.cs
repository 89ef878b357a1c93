using M2M.Server;

// `M2M.Server health [url]`: a probe for container health checks (the image has no curl or wget).
if (args is ["health", ..])
{
    return await HealthProbe.RunAsync(args.Length > 1 ? args[1] : null);
}

var app = M2MServer.Build(args);
app.Run();
return 0;
