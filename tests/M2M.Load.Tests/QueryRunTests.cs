using System.Net;
using System.Text;
using System.Text.Json;
using M2M.Ingest.Hosting;
using M2M.Load.Cli;
using M2M.Load.Runs;
using M2M.Load.Simulation;
using M2M.Load.Stats;
using M2M.Server;
using M2M.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace M2M.Load.Tests;

/// <summary>The <c>query</c> command's arguments, its answer parsing and its report.</summary>
public sealed class QueryOptionsTests
{
    private static readonly string[] Minimal = ["query", "--api-url", "http://127.0.0.1:5000", "--api-user", "admin", "--api-password", "pw"];

    [Fact]
    public void Query_without_options_but_the_api_and_credentials_gets_the_query_defaults()
    {
        var o = Parse(Minimal);
        Assert.Equal(LoadCommand.Query, o.Command);
        Assert.Equal(new Uri("http://127.0.0.1:5000"), o.Query.ApiUrl);
        Assert.Equal(100, o.Devices);
        Assert.Equal(TimeSpan.FromSeconds(30), o.Duration);
        Assert.Equal(2, o.Query.Concurrency);
        Assert.Equal(1000, o.Query.PageSize);
        Assert.Equal(PageOrder.Desc, o.Query.Order);
        Assert.Null(o.Query.Type);
        Assert.Equal(TimeSpan.FromSeconds(5), o.Query.Warmup);
    }

    [Fact]
    public void Query_options_are_read()
    {
        var o = Parse([.. Minimal, "--concurrency=8", "--page-size", "250", "--order", "asc", "--type", "sen:loc", "--warmup", "0", "--rate", "40", "-n", "7",
            "--ident-prefix", "imei:36", "--ident-offset", "100", "-d", "1m", "--json"]);
        Assert.Equal(8, o.Query.Concurrency);
        Assert.Equal(250, o.Query.PageSize);
        Assert.Equal(PageOrder.Asc, o.Query.Order);
        Assert.Equal("sen:loc", o.Query.Type);
        Assert.Equal(TimeSpan.Zero, o.Query.Warmup);
        Assert.Equal(40, o.Rate);
        Assert.Equal(7, o.Devices);
        Assert.Equal("imei:36", o.IdentPrefix);
        Assert.Equal(100, o.IdentOffset);
        Assert.Equal(TimeSpan.FromMinutes(1), o.Duration);
        Assert.True(o.Json);
    }

    [Fact]
    public void An_api_key_replaces_the_user_and_password()
    {
        var o = Parse("query", "--api-url", "https://api.example/", "--api-token", "m2mk_abc");
        Assert.Equal("m2mk_abc", o.Query.ApiKey);
        Assert.Null(o.Query.User);
    }

    [Theory]
    [InlineData("query", "--api-user", "admin", "--api-password", "pw")]
    [InlineData("query", "--api-url", "ftp://x", "--api-user", "admin", "--api-password", "pw")]
    [InlineData("query", "--api-url", "not a url", "--api-user", "admin", "--api-password", "pw")]
    [InlineData("query", "--api-url", "http://h:1")]
    [InlineData("query", "--api-url", "http://h:1", "--api-token", "k", "--api-user", "admin", "--api-password", "pw")]
    [InlineData("query", "--api-url", "http://h:1", "--api-user", "admin", "--api-password", "pw", "--concurrency", "0")]
    [InlineData("query", "--api-url", "http://h:1", "--api-user", "admin", "--api-password", "pw", "--page-size", "1001")]
    [InlineData("query", "--api-url", "http://h:1", "--api-user", "admin", "--api-password", "pw", "--order", "sideways")]
    [InlineData("query", "--api-url", "http://h:1", "--api-user", "admin", "--api-password", "pw", "--type", "")]
    [InlineData("query", "--api-url", "http://h:1", "--api-user", "admin", "--api-password", "pw", "--devices", "0")]
    [InlineData("query", "--api-url", "http://h:1", "--api-user", "admin", "--api-password", "pw", "--duration", "0")]
    [InlineData("query", "--api-url", "http://h:1", "--api-user", "admin", "--api-password", "pw", "--warmup", "soon")]
    [InlineData("query", "--api-url", "http://h:1", "--api-user", "admin", "--api-password", "pw", "--bogus", "1")]
    [InlineData("load", "--api-url", "http://h:1")]
    [InlineData("load", "--concurrency", "4")]
    public void Bad_query_arguments_are_refused_with_a_message(params string[] args)
    {
        var result = CommandLine.Parse(args);
        Assert.Null(result.Options);
        Assert.False(string.IsNullOrWhiteSpace(result.Error));
    }

    [Fact]
    public void A_user_without_a_password_needs_the_password_variable()
    {
        var o = CommandLine.Defaults(LoadCommand.Query) with { Query = new QueryOptions { ApiUrl = new Uri("http://h:1"), User = "admin" } };
        Assert.NotNull(QueryCli.Validate(o, _ => null));
        Assert.Null(QueryCli.Validate(o, name => name == QueryCli.PasswordVariable ? "secret" : null));
        Assert.Equal("secret", QueryCli.PasswordOf(o.Query, name => name == QueryCli.PasswordVariable ? "secret" : null));
    }

    [Fact]
    public void Help_lists_the_query_command_and_its_options()
    {
        Assert.Contains("query", CommandLine.Help(null), StringComparison.Ordinal);
        var help = CommandLine.Help(LoadCommand.Query);
        foreach (var option in QueryCli.Names)
        {
            Assert.Contains(option, help, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_random_page_position_stays_where_a_full_page_fits()
    {
        var first = DateTimeOffset.Parse("2025-01-01T00:00:00Z");
        var target = new PageTarget(Guid.NewGuid(), "sen:loc", first, first.AddDays(30), first.AddDays(2), first.AddDays(28), Full: true);
        var random = new Random(7);
        for (var i = 0; i < 500; i++)
        {
            var desc = Query(target.PagePath(PageOrder.Desc, 1000, random));
            Assert.Equal("desc", desc["order"]);
            Assert.Equal("sen:loc", desc["type"]);
            Assert.Equal("1000", desc["limit"]);
            var to = DateTimeOffset.Parse(desc["to"]);
            Assert.InRange(to, target.LowestTo, target.Last);

            var asc = Query(target.PagePath(PageOrder.Asc, 1000, random));
            var from = DateTimeOffset.Parse(asc["from"]);
            Assert.InRange(from, target.First, target.HighestFrom);
        }
        Assert.Equal(first, PageTarget.Pick(first, first.AddSeconds(-5), random));

        static Dictionary<string, string> Query(string path)
        {
            Assert.StartsWith("/api/devices/", path, StringComparison.Ordinal);
            return path[(path.IndexOf('?', StringComparison.Ordinal) + 1)..].Split('&')
                .Select(p => p.Split('=', 2)).ToDictionary(p => p[0], p => Uri.UnescapeDataString(p[1]));
        }
    }

    [Fact]
    public void Discovery_pages_give_the_bounds_of_a_full_page()
    {
        using var asc = JsonDocument.Parse("""{"items":[{"type":"t","time":"2025-01-01T00:00:00Z","data":1},{"type":"t","time":"2025-01-01T00:01:00Z","data":2},{"type":"t","time":"2025-01-01T00:02:00Z","data":3}],"next":"x"}""");
        using var desc = JsonDocument.Parse("""{"items":[{"type":"t","time":"2025-01-09T00:00:00Z","data":1},{"type":"t","time":"2025-01-08T23:59:00Z","data":2},{"type":"t","time":"2025-01-08T23:58:00Z","data":3}],"next":"y"}""");
        var id = Guid.NewGuid();
        var full = PageTarget.FromPages(id, "t", asc.RootElement, desc.RootElement, 3)!;
        Assert.True(full.Full);
        Assert.Equal(DateTimeOffset.Parse("2025-01-01T00:00:00Z"), full.First);
        Assert.Equal(DateTimeOffset.Parse("2025-01-01T00:02:00Z"), full.LowestTo);
        Assert.Equal(DateTimeOffset.Parse("2025-01-09T00:00:00Z"), full.Last);
        Assert.Equal(DateTimeOffset.Parse("2025-01-08T23:58:00Z"), full.HighestFrom);

        var shortSeries = PageTarget.FromPages(id, "t", asc.RootElement, desc.RootElement, 1000)!;
        Assert.False(shortSeries.Full);
        Assert.Equal(shortSeries.First, shortSeries.LowestTo);

        using var empty = JsonDocument.Parse("""{"items":[],"next":null}""");
        Assert.Null(PageTarget.FromPages(id, "t", empty.RootElement, empty.RootElement, 3));
    }

    [Theory]
    [InlineData("""{"items":[],"next":null}""", 0)]
    [InlineData("""{"items":[{"type":"a","time":"2025-01-01T00:00:00Z","data":{"items":[1,2]}},{"type":"b","time":"2025-01-01T00:00:00Z","data":[1]}],"next":"c"}""", 2)]
    [InlineData("""{"next":null,"meta":{"items":[1]},"items":[1,2,3]}""", 3)]
    [InlineData("""{"next":null}""", -1)]
    [InlineData("""[1,2]""", -1)]
    [InlineData("""{"items":[1,2""", -1)]
    [InlineData("""<html>""", -1)]
    public void Page_answers_are_counted_without_building_objects(string body, int expected)
    {
        Assert.Equal(expected, PageTarget.CountItems(Encoding.UTF8.GetBytes(body)));
    }

    [Theory]
    [InlineData("""{}""", 0)]
    [InlineData("""{"sen:loc":{"time":"2025-01-01T00:00:00Z","data":{"lat":1}},"sen:temp":{"time":"2025-01-01T00:00:00Z","data":21.5}}""", 2)]
    [InlineData("""[]""", -1)]
    [InlineData("""{"a":""", -1)]
    public void Latest_answers_are_counted_by_type(string body, int expected)
    {
        Assert.Equal(expected, PageTarget.CountProperties(Encoding.UTF8.GetBytes(body)));
    }

    [Fact]
    public void The_report_has_count_percentiles_and_errors_per_query_kind()
    {
        var o = Parse(Minimal);
        var page = new QueryKindStats();
        var latest = new QueryKindStats();
        for (var i = 1; i <= 100; i++)
        {
            page.Answered(i * 20, 1000, isShort: i == 100); // exact below 2048 µs
            latest.Answered(i * 10, 2, isShort: false);
        }
        var errors = new ErrorCounts();
        errors.Add("500", "boom");
        errors.Add("500", "boom again");
        errors.Add("timeout", "slow");
        var result = QueryRun.Result(o, 10, 1, [], TimeSpan.FromSeconds(10), page, latest, errors);

        Assert.Equal("query", result["command"]!.GetValue<string>());
        Assert.Equal(100, result["page"]!["count"]!.GetValue<long>());
        Assert.Equal(10, result["page"]!["per_s"]!.GetValue<double>());
        Assert.Equal(1.0, result["page"]!["p50_ms"]!.GetValue<double>());
        Assert.Equal(1.98, result["page"]!["p99_ms"]!.GetValue<double>());
        Assert.Equal(2.0, result["page"]!["max_ms"]!.GetValue<double>());
        Assert.Equal(1000, result["page"]!["records_per_page"]!.GetValue<double>());
        Assert.Equal(1, result["page"]!["short_pages"]!.GetValue<long>());
        Assert.Equal(0.5, result["latest"]!["p50_ms"]!.GetValue<double>());
        Assert.Equal(2, result["latest"]!["types_per_answer"]!.GetValue<double>());
        Assert.Equal(3, result["errors"]!["total"]!.GetValue<long>());
        Assert.Equal(2, result["errors"]!["by_kind"]!["500"]!.GetValue<long>());
        Assert.Equal("slow", result["errors"]!["last"]!.GetValue<string>());
        Assert.True(QueryRun.Succeeded(result));
        Assert.False(QueryRun.Succeeded(QueryRun.Result(o, 10, 1, [], TimeSpan.FromSeconds(10), new QueryKindStats(), latest, errors)));
    }

    private static LoadOptions Parse(params string[] args)
    {
        var result = CommandLine.Parse(args);
        Assert.True(result.Options is not null, result.Error);
        return result.Options!;
    }
}

/// <summary><c>query</c> against a real server in the test process, after devices of the load tool uploaded their history.</summary>
public sealed class QueryRunAgainstServerTests : IAsyncLifetime
{
    private const string Password = "query-test-password-1";
    private const string Prefix = "imei:78";
    private readonly TempDirectory _data = new("m2m-load-query-test");
    private WebApplication _app = null!;
    private Uri _api = null!;
    private IPEndPoint _m2mp = null!;
    private IPEndPoint _alip = null!;

    private static CancellationToken Test => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _app = M2MServer.Build(
        [
            "--urls", "http://127.0.0.1:0",
            "--M2M:DataDirectory", _data.Path,
            "--M2M:Ingest:M2mpPort", "0",
            "--M2M:Ingest:AlipPort", "0",
            "--M2M:Admin:Password", Password,
            "--M2M:Api:ServerTiming", "true",
            "--Logging:LogLevel:Default", "Warning",
        ]);
        await _app.StartAsync();
        var endpoints = _app.Services.GetRequiredService<IngestEndpoints>();
        await endpoints.Started.WaitAsync(TimeSpan.FromSeconds(30));
        _m2mp = new IPEndPoint(IPAddress.Loopback, endpoints.M2mp!.Port);
        _alip = new IPEndPoint(IPAddress.Loopback, endpoints.Alip!.Port);
        _api = new Uri(_app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _data.Dispose();
    }

    [Fact]
    public async Task Query_reads_full_pages_and_latest_values_of_the_fleet_load_created()
    {
        await UploadHistoryAsync(devices: 3, recordsPerDevice: 400);

        var o = Options("--devices", "4", "--page-size", "50", "--duration", "2s", "--warmup", "0", "--concurrency", "2");
        var result = await QueryRun.RunAsync(o, TextWriter.Null, Test);

        Assert.True(QueryRun.Succeeded(result), result.ToJsonString());
        Assert.Equal(3, result["devices"]!.GetValue<int>());
        Assert.Equal(1, result["devices_missing"]!.GetValue<int>());
        // sen:loc and sen:temp of each device hold full pages; the server's own _server events of a connection do not
        Assert.Equal(9, result["series"]!.GetValue<int>());
        Assert.Equal(6, result["series_with_full_pages"]!.GetValue<int>());
        Assert.Equal(0, result["errors"]!["total"]!.GetValue<long>());
        Assert.Equal(50, result["page"]!["records_per_page"]!.GetValue<double>());
        Assert.Equal(0, result["page"]!["short_pages"]!.GetValue<long>());
        Assert.Equal(3, result["latest"]!["types_per_answer"]!.GetValue<double>()); // sen:loc, sen:temp, _server
        Assert.Equal(0, result["latest"]!["empty_answers"]!.GetValue<long>());
        Assert.True(result["page"]!["p99_ms"]!.GetValue<double>() <= result["page"]!["max_ms"]!.GetValue<double>());
        // The server sends Server-Timing: every timed query is split, and no part is longer than the slowest query
        foreach (var kind in new[] { "page", "latest" })
        {
            var split = result[kind]!["split"]!;
            Assert.Equal(result[kind]!["count"]!.GetValue<long>(), split["requests"]!.GetValue<long>());
            var max = result[kind]!["max_ms"]!.GetValue<double>();
            foreach (var part in new[] { "before_server", "server", "after_server", "body" })
            {
                Assert.InRange(split[part]!["p99_ms"]!.GetValue<double>(), 0, max + 0.01);
            }
            Assert.True(split["server"]!["p50_ms"]!.GetValue<double>() > 0, split.ToJsonString());
        }

        // oldest first, one type, paced: the same, within the rate
        var asc = await QueryRun.RunAsync(Options("--devices", "3", "--page-size", "50", "--duration", "2s", "--warmup", "0", "--order", "asc", "--type", "sen:temp", "--rate", "20"), TextWriter.Null, Test);
        Assert.True(QueryRun.Succeeded(asc), asc.ToJsonString());
        Assert.Equal(3, asc["series"]!.GetValue<int>());
        Assert.Equal(0, asc["page"]!["short_pages"]!.GetValue<long>());
        Assert.Equal(0, asc["errors"]!["total"]!.GetValue<long>());
        Assert.True(asc["page"]!["count"]!.GetValue<long>() + asc["latest"]!["count"]!.GetValue<long>() <= 20 * 2 + 2, asc.ToJsonString());
    }

    [Fact]
    public async Task A_wrong_password_or_an_unknown_fleet_ends_the_run_with_a_message()
    {
        var wrong = CommandLine.Parse(["query", "--api-url", _api.ToString(), "--api-user", "admin", "--api-password", "wrong-password", "--duration", "1s"]).Options!;
        var refused = await Assert.ThrowsAsync<IOException>(() => QueryRun.RunAsync(wrong, TextWriter.Null, Test));
        Assert.Contains("401", refused.Message, StringComparison.Ordinal);

        var none = Options("--ident-prefix", "imei:79", "--devices", "2", "--duration", "1s");
        var missing = await Assert.ThrowsAsync<IOException>(() => QueryRun.RunAsync(none, TextWriter.Null, Test));
        Assert.Contains("none of the 2 devices", missing.Message, StringComparison.Ordinal);
    }

    private LoadOptions Options(params string[] extra)
    {
        string[] prefix = extra.Contains("--ident-prefix") ? [] : ["--ident-prefix", Prefix];
        var result = CommandLine.Parse(["query", "--api-url", _api.ToString(), "--api-user", "admin", "--api-password", Password, .. prefix, .. extra]);
        Assert.True(result.Options is not null, result.Error);
        return result.Options!;
    }

    /// <summary>Devices <c>imei:78…0</c>.. upload <paramref name="recordsPerDevice"/> records of their history (both types) as <c>load</c> does.</summary>
    private async Task UploadHistoryAsync(int devices, int recordsPerDevice)
    {
        var counters = new RunCounters();
        var plan = new DevicePlan
        {
            M2mpEndPoint = _m2mp,
            AlipEndPoint = _alip,
            Mode = DeviceMode.Flat,
            Counters = counters,
            BarrierEvery = 50,
            Window = 2,
            HistoryStart = DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 30 * 86400,
            SpacingSeconds = 60,
            ReconnectMin = TimeSpan.FromMilliseconds(100),
            ReconnectMax = TimeSpan.FromMilliseconds(400),
        };
        var fleet = Enumerable.Range(0, devices).Select(i => (SimulatedDevice)new M2mpDevice(DevicePlan.Ident(Prefix, i), i, plan)).ToList();
        using var stop = new CancellationTokenSource();
        var running = fleet.Select(d => d.RunAsync(stop.Token)).ToArray();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (fleet.Any(d => d.Generated - d.UnackedCount < recordsPerDevice))
        {
            Assert.True(DateTime.UtcNow < deadline, $"the devices uploaded {counters.RecordsAcked} records in 60 s");
            await Task.Delay(20, Test);
        }
        await stop.CancelAsync();
        await Task.WhenAll(running).WaitAsync(TimeSpan.FromSeconds(30), Test);
        Assert.Equal(0, counters.ProtocolErrors);
        Assert.Equal(0, counters.ServerErrors);
    }
}
