using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;

namespace M2M.Console.Tests;

/// <summary>How the API node serves the console (no browser needed): caching, compression, the client-route fallback, the config endpoint.</summary>
[Collection(BrowserCollection.Name)]
public class ConsoleServingTests(BrowserFixture fixture)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private HttpClient Client() => new() { BaseAddress = fixture.Host.Address };

    [Fact]
    public async Task The_root_serves_the_page_uncached_with_a_content_security_policy()
    {
        using var client = Client();
        var response = await client.GetAsync("/", Ct);
        var html = await response.Content.ReadAsStringAsync(Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("<div id=\"app\">", html);
        Assert.True(response.Headers.CacheControl?.NoCache);
        var csp = response.Headers.GetValues("Content-Security-Policy").Single();
        Assert.Contains("default-src 'self'", csp);
        Assert.Contains("script-src 'self'", csp);
        Assert.DoesNotContain("http", csp);
    }

    [Fact]
    public async Task Hashed_assets_are_cached_for_a_year_compressed_and_revalidated_by_etag()
    {
        using var client = Client();
        var html = await client.GetStringAsync("/", Ct);
        var script = System.Text.RegularExpressions.Regex.Match(html, "src=\"(/assets/[^\"]+\\.js)\"").Groups[1].Value;
        Assert.NotEmpty(script);

        using var request = new HttpRequestMessage(HttpMethod.Get, script);
        request.Headers.AcceptEncoding.Add(new StringWithQualityHeaderValue("br"));
        var compressed = await client.SendAsync(request, Ct);
        var plain = await client.GetAsync(script, Ct);
        using var again = new HttpRequestMessage(HttpMethod.Get, script);
        again.Headers.IfNoneMatch.Add(plain.Headers.ETag!);
        var revalidated = await client.SendAsync(again, Ct);

        Assert.Equal(HttpStatusCode.OK, compressed.StatusCode);
        Assert.Equal("br", Assert.Single(compressed.Content.Headers.ContentEncoding));
        Assert.Equal("public, max-age=31536000, immutable", compressed.Headers.CacheControl?.ToString());
        Assert.True(compressed.Content.Headers.ContentLength < plain.Content.Headers.ContentLength / 2);
        Assert.Empty(plain.Content.Headers.ContentEncoding);
        Assert.Equal(HttpStatusCode.NotModified, revalidated.StatusCode);
    }

    [Theory]
    [InlineData("/fleet")]
    [InlineData("/devices/5f0c8a4e-1111-2222-3333-444455556666/settings")]
    [InlineData("/admin")]
    public async Task Client_routes_get_the_page(string path)
    {
        using var client = Client();
        var response = await client.GetAsync(path, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("<div id=\"app\">", await response.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task The_server_own_paths_keep_their_answers()
    {
        using var client = Client();
        var api = await client.GetAsync("/api/no-such-route", Ct);
        var apiPost = await client.PostAsync("/api/devices/x/unknown", null, Ct);
        var openapi = await client.GetAsync("/openapi/v1.json", Ct);
        var health = await client.GetAsync("/health", Ct);
        var missingAsset = await client.GetAsync("/assets/missing-1234.js", Ct);
        var unknownPage = await client.GetAsync("/no-such-page", Ct);

        Assert.Equal(HttpStatusCode.NotFound, api.StatusCode);
        Assert.DoesNotContain("<div id=\"app\">", await api.Content.ReadAsStringAsync(Ct));
        Assert.Equal(HttpStatusCode.NotFound, apiPost.StatusCode);
        Assert.Equal("application/json", openapi.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, missingAsset.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, unknownPage.StatusCode);
    }

    [Fact]
    public async Task The_config_needs_a_token_and_names_no_tile_server_by_default()
    {
        using var client = Client();
        var anonymous = await client.GetAsync("/api/console/config", Ct);
        using var admin = await fixture.Host.LoginAsync();
        var config = await admin.GetFromJsonAsync<JsonElement>("/api/console/config", Ct);

        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal(JsonValueKind.Null, config.GetProperty("tiles").ValueKind);
    }

    [Fact]
    public async Task A_configured_tile_server_is_given_to_the_page_and_allowed_by_its_policy()
    {
        await using var host = await ConsoleHost.StartAsync(
            "--M2M:Console:Tiles", "https://{s}.tiles.example.org/{z}/{x}/{y}.png",
            "--M2M:Console:TileAttribution", "© example",
            "--M2M:Console:TileMaxZoom", "17");
        using var admin = await host.LoginAsync();
        var config = await admin.GetFromJsonAsync<JsonElement>("/api/console/config", Ct);
        var page = await admin.GetAsync("/", Ct);

        var tiles = config.GetProperty("tiles");
        Assert.Equal("https://{s}.tiles.example.org/{z}/{x}/{y}.png", tiles.GetProperty("url").GetString());
        Assert.Equal("© example", tiles.GetProperty("attribution").GetString());
        Assert.Equal(17, tiles.GetProperty("maxZoom").GetInt32());
        Assert.Contains("img-src 'self' data: blob: https://*.tiles.example.org", page.Headers.GetValues("Content-Security-Policy").Single());
    }

    [Fact]
    public async Task A_tile_setting_that_is_not_a_url_template_stops_the_start()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => ConsoleHost.StartAsync("--M2M:Console:Tiles", "ftp://tiles/{z}"));
        Assert.Contains("M2M:Console:Tiles", error.ToString());
    }
}
