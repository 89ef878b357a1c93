using System.Data.Common;
using System.Net.Sockets;
using System.Text;
using M2M.Testing;

namespace M2M.Server.Tests;

/// <summary>
/// The services that CI starts for the distributed backends are reachable at the addresses it
/// exports. Without the variables these tests skip (fail when <c>M2M_REQUIRE_SERVICES=1</c>).
/// </summary>
public class ExternalServicesTests
{
    [Fact]
    public async Task Nats_server_greets_with_info_line()
    {
        var url = new Uri(RequiredServices.Nats);
        using var client = new TcpClient();
        await client.ConnectAsync(url.Host, url.Port, TestContext.Current.CancellationToken);

        var buffer = new byte[4096];
        var read = await client.GetStream().ReadAsync(buffer, TestContext.Current.CancellationToken);

        Assert.StartsWith("INFO {", Encoding.ASCII.GetString(buffer, 0, read));
        Assert.Contains("\"jetstream\":true", Encoding.ASCII.GetString(buffer, 0, read));
    }

    [Fact]
    public async Task Postgres_accepts_tcp_connections()
    {
        var builder = new DbConnectionStringBuilder { ConnectionString = RequiredServices.Postgres };
        var host = (string)builder["Host"];
        var port = int.Parse((string)builder["Port"], System.Globalization.CultureInfo.InvariantCulture);
        using var client = new TcpClient();

        await client.ConnectAsync(host, port, TestContext.Current.CancellationToken);

        Assert.True(client.Connected);
    }
}
