using System.Diagnostics;
using System.Text.Json.Nodes;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using TempDirectory = M2M.Testing.TempDirectory;

namespace M2M.AppHost.Tests;

/// <summary>The distributed profile's resource graph and its deployment description.</summary>
public class DistributedTopologyTests
{
    [Fact]
    public async Task Distributed_topology_declares_two_ingest_nodes_an_api_node_writers_and_their_servers()
    {
        var ct = TestContext.Current.CancellationToken;
        using var data = new TempDirectory("m2m-apphost-dist");
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.M2M_AppHost>(
            ["M2M:Topology=distributed", $"M2M:DataDirectory={data.Path}", "M2M:Distributed:M2mpPorts=41010,41011", "M2M:Distributed:AlipPorts=41050,41051"], ct);

        await using var app = await builder.BuildAsync(ct);

        var model = app.Services.GetRequiredService<DistributedApplicationModel>();
        var projects = model.Resources.OfType<ProjectResource>().Select(r => r.Name).Order().ToArray();
        Assert.Equal(["api", "ingest-a", "ingest-b", "writer"], projects);
        var connections = model.Resources.OfType<IResourceWithConnectionString>().Select(r => r.Name).ToArray();
        Assert.Contains("nats", connections);
        Assert.Contains("m2mdb", connections);
        var ingestA = model.Resources.OfType<ProjectResource>().Single(r => r.Name == "ingest-a");
        var ingestB = model.Resources.OfType<ProjectResource>().Single(r => r.Name == "ingest-b");
        Assert.Equal(41010, ingestA.Annotations.OfType<EndpointAnnotation>().Single(e => e.Name == "m2mp").Port);
        Assert.Equal(41011, ingestB.Annotations.OfType<EndpointAnnotation>().Single(e => e.Name == "m2mp").Port);
        Assert.Equal(41051, ingestB.Annotations.OfType<EndpointAnnotation>().Single(e => e.Name == "alip").Port);
    }

    [Fact]
    public async Task Publishing_the_distributed_topology_writes_a_manifest_with_every_role_and_server()
    {
        var ct = TestContext.Current.CancellationToken;
        using var output = new TempDirectory("m2m-manifest");
        var manifest = Path.Combine(output.Path, "aspire-manifest.json");
        // The app host as a deployment tool runs it: its own project, already built with this test.
        var appHost = Projects.M2M_AppHost.ProjectPath;
        var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "run", "--project", appHost, "--no-build", "-c", configuration, "--no-launch-profile", "--",
            "--publisher", "manifest", "--output-path", manifest, "M2M:Topology=distributed" })
        {
            info.ArgumentList.Add(arg);
        }
        info.Environment["DOTNET_ENVIRONMENT"] = "Production";

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct).WaitAsync(TimeSpan.FromMinutes(3), ct);

        Assert.True(process.ExitCode == 0, $"publish failed ({process.ExitCode}): {await stderr}{await stdout}");
        var resources = JsonNode.Parse(await File.ReadAllTextAsync(manifest, ct))!["resources"]!.AsObject();
        foreach (var role in new[] { "api", "ingest-a", "ingest-b", "writer" })
        {
            Assert.Equal("project.v0", (string?)resources[role]?["type"]);
            Assert.Equal("{nats.connectionString}", (string?)resources[role]?["env"]?["ConnectionStrings__nats"]);
            Assert.Equal("{m2mdb.connectionString}", (string?)resources[role]?["env"]?["ConnectionStrings__m2mdb"]);
        }
        // Containers in the deployment: no path of this machine's binaries.
        Assert.Equal("container.v0", (string?)resources["nats"]?["type"]);
        Assert.Equal("container.v0", (string?)resources["postgres"]?["type"]);
        Assert.Equal("3010", (string?)resources["ingest-a"]?["env"]?["M2M__Ingest__M2mpPort"]);
        Assert.Equal("3011", (string?)resources["ingest-b"]?["env"]?["M2M__Ingest__M2mpPort"]);
    }
}
