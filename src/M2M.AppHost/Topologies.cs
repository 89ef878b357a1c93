/// <summary>The resource graphs the app host can start.</summary>
internal static class Topologies
{
    /// <summary>One <c>M2M.Server</c> with embedded storage: the whole platform in a process.</summary>
    public static void AddEmbeddedTopology(this IDistributedApplicationBuilder builder)
    {
        var dataDirectory = builder.Configuration["M2M:DataDirectory"]
            ?? Path.Combine(builder.AppHostDirectory, "data", "server");

        builder.AddProject<Projects.M2M_Server>("server", launchProfileName: "http")
            .WithEnvironment("M2M__DataDirectory", dataDirectory)
            .WithHttpHealthCheck("/health");
    }
}
