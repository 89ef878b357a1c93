var builder = DistributedApplication.CreateBuilder(args);

// M2M:Topology selects how the platform is laid out:
//  - "embedded" (default): one M2M.Server process, RocksDB inside it, in-process bus;
//  - "distributed": two ingest nodes, an API node and storage writers apart, sharing PostgreSQL
//    and NATS JetStream (local binaries when installed, containers otherwise).
var topology = builder.Configuration["M2M:Topology"] ?? "embedded";
switch (topology)
{
    case "embedded":
        builder.AddEmbeddedTopology();
        break;
    case "distributed":
        builder.AddDistributedTopology();
        break;
    default:
        throw new InvalidOperationException(
            $"Unknown M2M:Topology '{topology}'. Known: 'embedded', 'distributed'.");
}

builder.Build().Run();
