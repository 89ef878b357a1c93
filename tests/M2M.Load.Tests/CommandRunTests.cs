using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using M2M.Ingest.Hosting;
using M2M.Load.Cli;
using M2M.Load.Runs;
using M2M.Server;
using M2M.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace M2M.Load.Tests;

/// <summary>A real server with its HTTP API and a known administrator password, for <c>m2m-load commands</c>.</summary>
public sealed class ApiServerFixture : IAsyncLifetime
{
    public const string AdminPassword = "load-test-admin-password";

    private readonly TempDirectory _data = new("m2m-load-cmd-test");

    public WebApplication App { get; private set; } = null!;

    public Uri ApiUrl { get; private set; } = null!;

    public int M2mpPort { get; private set; }

    public int AlipPort { get; private set; }

    public async ValueTask InitializeAsync()
    {
        App = M2MServer.Build(
        [
            "--urls", "http://127.0.0.1:0",
            "--M2M:DataDirectory", _data.Path,
            "--M2M:Ingest:M2mpPort", "0",
            "--M2M:Ingest:AlipPort", "0",
            "--M2M:Admin:Password", AdminPassword,
            "--M2M:Ingest:Auth:AutoRegisterPerMinute", "0",
            "--Logging:LogLevel:Default", "Warning",
        ]);
        await App.StartAsync();
        var endpoints = App.Services.GetRequiredService<IngestEndpoints>();
        await endpoints.Started.WaitAsync(TimeSpan.FromSeconds(30));
        M2mpPort = endpoints.M2mp!.Port;
        AlipPort = endpoints.Alip!.Port;
        ApiUrl = new Uri(App.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
    }

    /// <summary>The <c>commands</c> options aimed at this server.</summary>
    public LoadOptions Options(params string[] args)
    {
        var parsed = CommandLine.Parse(
        [
            "commands", "--api-url", ApiUrl.ToString(),
            "--m2mp-port", M2mpPort.ToString(CultureInfo.InvariantCulture), "--alip-port", AlipPort.ToString(CultureInfo.InvariantCulture),
            "--quiet", .. args,
        ]);
        Assert.True(parsed.Options is not null, parsed.Error);
        return parsed.Options!;
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
        _data.Dispose();
    }
}

/// <summary><c>m2m-load commands</c> against a real server started in-process (no timing asserted, only counts).</summary>
public sealed class CommandRunTests(ApiServerFixture server) : IClassFixture<ApiServerFixture>
{
    private static CancellationToken Test => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("m2mp", "imei:51")]
    [InlineData("alip", "imei:52")]
    [InlineData("mix", "imei:53")]
    public async Task Every_command_queued_through_the_api_reaches_its_device_and_its_acknowledgement_is_seen(string protocol, string prefix)
    {
        var o = server.Options("--protocol", protocol, "--ident-prefix", prefix, "-n", "6", "--rate", "20", "-d", "2s", "--grace", "30s",
            "--api-password", ApiServerFixture.AdminPassword);

        var result = await CommandRun.RunAsync(o, IPAddress.Loopback, serverPid: null, TextWriter.Null, Test);

        var commands = result["commands"]!;
        Assert.Equal(6, result["devices_targeted"]!.GetValue<int>());
        Assert.Equal(40, commands["planned"]!.GetValue<int>());
        Assert.Equal(40, commands["posted"]!.GetValue<long>());
        Assert.Equal(0, commands["api_errors"]!.GetValue<long>());
        Assert.Equal(40, commands["delivered"]!.GetValue<long>());
        Assert.Equal(0, commands["lost"]!.GetValue<long>());
        Assert.Equal(40, commands["acked_seen"]!.GetValue<long>());
        Assert.Equal(0, commands["ack_missing"]!.GetValue<long>());
        Assert.Equal(0, commands["foreign"]!.GetValue<long>());
        Assert.Equal(40, result["delivery_latency"]!["count"]!.GetValue<long>());
        Assert.Equal(40, result["post_latency"]!["count"]!.GetValue<long>());
        Assert.Null(result["events_error"]);
        Assert.Equal(40, result["device"]!["commands_acked"]!.GetValue<long>());
        Assert.Equal(0, result["errors"]!["protocol"]!.GetValue<long>());
        Assert.True(CommandRun.Succeeded(result));
        // p50 ≤ p99 ≤ max: the figures come from one histogram
        var d = result["delivery_latency"]!;
        Assert.True(d["p50_ms"]!.GetValue<double>() <= d["p99_ms"]!.GetValue<double>());
        Assert.True(d["p99_ms"]!.GetValue<double>() <= d["max_ms"]!.GetValue<double>());
    }

    [Fact]
    public async Task A_second_run_on_the_same_devices_counts_nothing_of_the_first()
    {
        var o = server.Options("--ident-prefix", "imei:54", "-n", "3", "--rate", "10", "-d", "1s", "--api-password", ApiServerFixture.AdminPassword);
        var first = await CommandRun.RunAsync(o, IPAddress.Loopback, null, TextWriter.Null, Test);
        var second = await CommandRun.RunAsync(o, IPAddress.Loopback, null, TextWriter.Null, Test);

        Assert.Equal(10, first["commands"]!["delivered"]!.GetValue<long>());
        Assert.Equal(10, second["commands"]!["delivered"]!.GetValue<long>());
        Assert.Equal(10, second["commands"]!["acked_seen"]!.GetValue<long>());
    }

    [Fact]
    public async Task A_wrong_password_stops_the_run_with_a_clear_error()
    {
        var o = server.Options("--ident-prefix", "imei:55", "-n", "1", "--api-password", "wrong-password");
        var e = await Assert.ThrowsAsync<IOException>(() => CommandRun.RunAsync(o, IPAddress.Loopback, null, TextWriter.Null, Test));
        Assert.Contains("signing in as admin", e.Message);
        Assert.Contains("401", e.Message);
    }

    [Fact]
    public async Task A_token_the_api_refuses_stops_the_run_before_any_device_connects()
    {
        var o = server.Options("--ident-prefix", "imei:56", "-n", "2", "--api-token", "not-a-token");
        var e = await Assert.ThrowsAsync<IOException>(() => CommandRun.RunAsync(o, IPAddress.Loopback, null, TextWriter.Null, Test));
        Assert.Contains("refuses the token: 401", e.Message);
    }
}
