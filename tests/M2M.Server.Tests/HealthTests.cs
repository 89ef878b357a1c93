using System.Net;

namespace M2M.Server.Tests;

public class HealthTests
{
    [Fact]
    public async Task Started_server_reports_healthy_on_health_endpoint()
    {
        await using var host = await ServerHost.StartAsync();

        var response = await host.Http.GetAsync("/health", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Healthy", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Started_server_reports_alive_on_alive_endpoint()
    {
        await using var host = await ServerHost.StartAsync();

        var response = await host.Http.GetAsync("/alive", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Unknown_route_is_not_found()
    {
        await using var host = await ServerHost.StartAsync();

        var response = await host.Http.GetAsync("/no-such-route", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }
}
