using System.Net;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;

namespace M2M.AppHost.Tests;

public class AppHostTests
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task Embedded_topology_declares_the_server_project()
    {
        var ct = TestContext.Current.CancellationToken;
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.M2M_AppHost>(ct);

        await using var app = await builder.BuildAsync(ct);

        var model = app.Services.GetRequiredService<DistributedApplicationModel>();
        var server = Assert.Single(model.Resources.OfType<ProjectResource>());
        Assert.Equal("server", server.Name);
    }

    [Fact]
    public async Task The_admin_password_parameter_reaches_the_server_as_M2M_Admin_Password()
    {
        var ct = TestContext.Current.CancellationToken;
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.M2M_AppHost>(["Parameters:admin-password=first-run-secret"], ct);

        await using var app = await builder.BuildAsync(ct);

        var model = app.Services.GetRequiredService<DistributedApplicationModel>();
        var server = Assert.Single(model.Resources.OfType<ProjectResource>());
        var parameter = Assert.IsType<ParameterResource>((await EnvironmentAsync(server))["M2M__Admin__Password"]);
        Assert.Equal("admin-password", parameter.Name);
        Assert.True(parameter.Secret);
        Assert.Equal("first-run-secret", await parameter.GetValueAsync(ct));
    }

    /// <summary>The environment the app host gives a resource, as its callbacks declare it (values unresolved).</summary>
    private static async Task<Dictionary<string, object>> EnvironmentAsync(ProjectResource resource)
    {
        var context = new EnvironmentCallbackContext(new DistributedApplicationExecutionContext(DistributedApplicationOperation.Run));
        foreach (var annotation in resource.Annotations.OfType<EnvironmentCallbackAnnotation>())
        {
            await annotation.Callback(context);
        }
        return context.EnvironmentVariables;
    }

    [Fact]
    public async Task Without_the_admin_password_parameter_the_server_generates_one()
    {
        var ct = TestContext.Current.CancellationToken;
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.M2M_AppHost>(ct);

        await using var app = await builder.BuildAsync(ct);

        var server = Assert.Single(app.Services.GetRequiredService<DistributedApplicationModel>().Resources.OfType<ProjectResource>());
        Assert.DoesNotContain("M2M__Admin__Password", (await EnvironmentAsync(server)).Keys);
    }

    [Fact]
    public async Task Unknown_topology_is_refused_with_a_clear_error()
    {
        var ct = TestContext.Current.CancellationToken;

        var error = await Assert.ThrowsAsync<InvalidOperationException>(
            () => DistributedApplicationTestingBuilder.CreateAsync<Projects.M2M_AppHost>(["M2M:Topology=nonsense"], ct));

        Assert.Contains("Unknown M2M:Topology 'nonsense'", error.Message);
    }

    [Fact]
    public async Task Server_resource_becomes_healthy_and_answers_health()
    {
        var ct = TestContext.Current.CancellationToken;
        using var data = new TempDir();
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.M2M_AppHost>([$"M2M:DataDirectory={data.Path}"], ct);
        await using var app = await builder.BuildAsync(ct);

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(StartTimeout);
        await app.StartAsync(timeout.Token);
        await app.ResourceNotifications.WaitForResourceHealthyAsync("server", timeout.Token);

        using var http = app.CreateHttpClient("server", "http");
        var response = await http.GetAsync("/health", timeout.Token);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Healthy", await response.Content.ReadAsStringAsync(timeout.Token));
    }

    private sealed class TempDir : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("m2m-apphost-").FullName;

        public void Dispose()
        {
            try { Directory.Delete(Path, true); } catch (IOException) { }
        }
    }
}
