using M2M.Server;

// `M2M.Server health [url]`: a probe for container health checks (the image has no curl or wget).
if (args is ["health", ..])
{
    return await HealthProbe.RunAsync(args.Length > 1 ? args[1] : null);
}

// A start that fails (a port in use, an unreadable certificate...) is logged and exits with code 1.
return await HostRunner.RunAsync(() => M2MServer.Build(args));
