/// <summary>The resource graphs the app host can start.</summary>
internal static class Topologies
{
    /// <summary>One <c>M2M.Server</c> with embedded storage: the whole platform in a process.</summary>
    public static void AddEmbeddedTopology(this IDistributedApplicationBuilder builder)
    {
        var dataDirectory = builder.Configuration["M2M:DataDirectory"]
            ?? Path.Combine(builder.AppHostDirectory, "data", "server");

        var server = builder.AddProject<Projects.M2M_Server>("server", launchProfileName: "http")
            .WithEnvironment("M2M__DataDirectory", dataDirectory)
            .WithHttpHealthCheck("/health");

        // The first administrator's password (M2M:Admin:Password of the server), from the secret
        // parameter "admin-password" when it is set (user secrets, environment or command line);
        // otherwise the server generates one and logs it once (the server's console log in the dashboard).
        if (!string.IsNullOrEmpty(builder.Configuration["Parameters:admin-password"]))
        {
            server.WithEnvironment("M2M__Admin__Password", builder.AddParameter("admin-password", secret: true));
        }
    }

    /// <summary>
    /// The distributed platform: PostgreSQL and NATS (local binaries when found, containers
    /// otherwise and when publishing), two ingest nodes on distinct device ports, an API node and
    /// the storage writers. Every node gets its servers as Aspire connection strings
    /// (<c>ConnectionStrings:nats</c>, <c>ConnectionStrings:m2mdb</c>).
    /// </summary>
    public static void AddDistributedTopology(this IDistributedApplicationBuilder builder)
    {
        var config = builder.Configuration;
        var dataDirectory = config["M2M:DataDirectory"] ?? Path.Combine(builder.AppHostDirectory, "data", "distributed");
        var run = !builder.ExecutionContext.IsPublishMode;

        // Device ports of the two ingest nodes (distinct: both listen on this machine); the local servers' free ports avoid them.
        var m2mpPorts = Ports(config["M2M:Distributed:M2mpPorts"], 3010);
        var alipPorts = Ports(config["M2M:Distributed:AlipPorts"], 3050);
        LocalServers.Reserve([.. m2mpPorts, .. alipPorts]);

        var (nats, natsServer) = AddNats(builder, dataDirectory, run);
        var (database, databaseServer) = AddDatabase(builder, dataDirectory, run);

        // One signing key for every API node, so a token from one is valid on all (base64 of 33 bytes).
        var signingKey = builder.AddParameter("api-signing-key", new GenerateParameterDefault { MinLength = 44, Special = false }, secret: true, persist: true);

        IResourceBuilder<ProjectResource> Node<TProject>(string name) where TProject : IProjectMetadata, new()
        {
            var node = builder.AddProject<TProject>(name, launchProfileName: null)
                .WithHttpEndpoint()
                .WithReference(nats).WaitFor(natsServer)
                .WithReference(database, "m2mdb").WaitFor(databaseServer)
                .WithEnvironment("M2M__Storage__Backend", "postgres")
                .WithHttpHealthCheck("/health");
            if (config["M2M:Nats:Prefix"] is { Length: > 0 } prefix)
            {
                node.WithEnvironment("M2M__Nats__Prefix", prefix);
            }
            return node;
        }

        var writers = Node<Projects.M2M_StorageWriter>("writer")
            .WithReplicas(int.TryParse(config["M2M:Distributed:Writers"], out var w) && w > 0 ? w : 2);

        for (var i = 0; i < 2; i++)
        {
            var (name, m2mp, alip) = ($"ingest-{(char)('a' + i)}", m2mpPorts[i], alipPorts[i]);
            Node<Projects.M2M_IngestNode>(name)
                .WithEnvironment("M2M__Ingest__NodeName", name)
                .WithEnvironment("M2M__Ingest__M2mpPort", m2mp.ToString(System.Globalization.CultureInfo.InvariantCulture))
                .WithEnvironment("M2M__Ingest__AlipPort", alip.ToString(System.Globalization.CultureInfo.InvariantCulture))
                .WithEndpoint("m2mp", e => { e.Port = m2mp; e.TargetPort = m2mp; e.IsProxied = false; e.UriScheme = "tcp"; })
                .WithEndpoint("alip", e => { e.Port = alip; e.TargetPort = alip; e.IsProxied = false; e.UriScheme = "tcp"; })
                .WaitFor(writers);
        }

        var api = Node<Projects.M2M_ApiNode>("api")
            .WithEnvironment("M2M__Api__SigningKey", signingKey)
            .WithExternalHttpEndpoints();
        // The first administrator's password, as in the embedded topology: the secret parameter "admin-password".
        if (!string.IsNullOrEmpty(config["Parameters:admin-password"]))
        {
            api.WithEnvironment("M2M__Admin__Password", builder.AddParameter("admin-password", secret: true));
        }
    }

    /// <summary>Two ports from <c>"a,b"</c>, or <paramref name="first"/> and the next one.</summary>
    private static int[] Ports(string? configured, int first)
    {
        var ports = (configured ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(p => int.Parse(p, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        return ports.Length >= 2 ? ports : [first, first + 1];
    }

    private static (IResourceBuilder<IResourceWithConnectionString> Nats, IResourceBuilder<IResource> Server) AddNats(
        IDistributedApplicationBuilder builder, string dataDirectory, bool run)
    {
        if (run && LocalServers.FindNatsServer(builder.Configuration) is { } binary)
        {
            var port = int.TryParse(builder.Configuration["M2M:Distributed:NatsPort"], out var p) ? p : LocalServers.FreePort();
            var server = builder.AddNatsServer("nats-server", binary, Path.Combine(dataDirectory, "nats"), port);
            var connection = builder.AddConnectionString("nats", ReferenceExpression.Create($"nats://127.0.0.1:{port.ToString(System.Globalization.CultureInfo.InvariantCulture)}"));
            return (connection, server);
        }
        var container = builder.AddResource(new NatsContainerResource("nats"))
            .WithImage("library/nats", "2.10")
            // The image's default message limit (1 MB): records larger than that are refused at the ingest node.
            .WithArgs("-js", "-sd", "/data")
            .WithVolume("m2m-nats-data", "/data")
            .WithEndpoint(targetPort: 4222, name: NatsContainerResource.EndpointName, scheme: "nats");
        return (container, container);
    }

    private static (IResourceBuilder<IResourceWithConnectionString> Database, IResourceBuilder<IResource> Server) AddDatabase(
        IDistributedApplicationBuilder builder, string dataDirectory, bool run)
    {
        if (run && LocalServers.FindPostgresBin(builder.Configuration) is { } bin)
        {
            var port = int.TryParse(builder.Configuration["M2M:Distributed:PostgresPort"], out var p) ? p : LocalServers.FreePort();
            var (server, password) = builder.AddPostgresServer("postgres", bin, Path.Combine(dataDirectory, "postgres"), port, "m2m");
            var secret = builder.AddParameter("postgres-password", password, secret: true);
            var connection = builder.AddConnectionString("m2mdb", ReferenceExpression.Create(
                $"Host=127.0.0.1;Port={port.ToString(System.Globalization.CultureInfo.InvariantCulture)};Username=postgres;Password={secret};Database=m2m"));
            return (connection, server);
        }
        var postgres = builder.AddPostgres("postgres").WithDataVolume("m2m-postgres-data");
        var database = postgres.AddDatabase("m2mdb", "m2m");
        return (database, postgres);
    }
}

/// <summary>A NATS server container whose connection string is <c>nats://host:port</c>.</summary>
internal sealed class NatsContainerResource(string name) : ContainerResource(name), IResourceWithConnectionString
{
    public const string EndpointName = "tcp";

    private EndpointReference Endpoint => field ??= new EndpointReference(this, EndpointName);

    public ReferenceExpression ConnectionStringExpression =>
        ReferenceExpression.Create($"nats://{Endpoint.Property(EndpointProperty.HostAndPort)}");
}
