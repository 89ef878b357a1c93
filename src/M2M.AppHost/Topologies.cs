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
}
