using System.Net;
using M2M.Load.Cli;
using M2M.Load.Runs;

namespace M2M.Load.Tests;

/// <summary>The flood command against the real server (in this process: no memory figures, the refusals are checked).</summary>
public sealed class FloodRunTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    [Fact]
    public async Task Unidentified_connections_announcing_large_frames_are_all_closed_by_the_server()
    {
        var options = CommandLine.Parse(
            ["flood", "-c", "40", "--m2mp-port", server.M2mp.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
             "--send", "32768", "--interval", "1ms", "--settle", "2s", "--after", "0s", "--quiet"]).Options!;

        var result = await FloodRun.RunAsync(options, IPAddress.Loopback, serverPid: null, TextWriter.Null, TestContext.Current.CancellationToken);

        Assert.Equal(40, result["open"]!.GetValue<int>());
        Assert.Equal(40, result["closed_by_server"]!.GetValue<int>());
    }

    [Fact]
    public async Task Identified_connections_may_send_large_frames()
    {
        var options = CommandLine.Parse(
            ["flood", "-c", "10", "--identify", "--ident-prefix", "imei:88", "--m2mp-port", server.M2mp.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
             "--send", "32768", "--interval", "1ms", "--settle", "2s", "--after", "0s", "--quiet"]).Options!;

        var result = await FloodRun.RunAsync(options, IPAddress.Loopback, serverPid: null, TextWriter.Null, TestContext.Current.CancellationToken);

        Assert.Equal(10, result["identified"]!.GetValue<int>());
        Assert.Equal(0, result["closed_by_server"]!.GetValue<int>());
    }
}
