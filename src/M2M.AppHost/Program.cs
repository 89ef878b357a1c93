var builder = DistributedApplication.CreateBuilder(args);

// M2M:Topology selects how the platform is laid out:
//  - "embedded" (default): one M2M.Server process, RocksDB inside it, in-process bus;
//  - "distributed": ingest and API nodes apart, PostgreSQL and NATS (a later issue).
var topology = builder.Configuration["M2M:Topology"] ?? "embedded";
switch (topology)
{
    case "embedded":
        builder.AddEmbeddedTopology();
        break;
    default:
        throw new InvalidOperationException(
            $"Unknown M2M:Topology '{topology}'. Known: 'embedded'. The distributed topology is not built yet.");
}

builder.Build().Run();
