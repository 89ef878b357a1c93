using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using M2M.Api.Auth;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using static M2M.Api.Tests.Http;

namespace M2M.Api.Tests;

/// <summary>
/// Every <c>/api</c> route (found by enumerating the server's endpoints, so a new route cannot
/// escape) answers 401 without a token, with an expired token, with a token signed by another key
/// and with an unsigned token.
/// </summary>
[Collection(ApiCollection.Name)]
public class AuthorizationTests(ApiFixture fixture)
{
    /// <summary>The only routes open to anonymous callers: signing in, refreshing, signing out.</summary>
    private static readonly (string Method, string Pattern)[] Anonymous =
        [("POST", "/api/auth/token"), ("POST", "/api/auth/refresh"), ("POST", "/api/auth/logout")];

    public static IEnumerable<(string Method, string Url)> ApiRoutes(IServiceProvider services)
        => ApiEndpoints(services).Select(e => (e.Method, e.Url));

    /// <summary>Every (method, concrete URL) of an <c>/api</c> route but the anonymous ones, with its endpoint.</summary>
    public static IEnumerable<(string Method, string Url, RouteEndpoint Endpoint)> ApiEndpoints(IServiceProvider services)
    {
        var sources = services.GetServices<EndpointDataSource>();
        foreach (var endpoint in sources.SelectMany(s => s.Endpoints).OfType<RouteEndpoint>())
        {
            var pattern = "/" + endpoint.RoutePattern.RawText!.TrimStart('/');
            if (!pattern.StartsWith("/api/", StringComparison.Ordinal) && pattern != "/api")
            {
                continue;
            }
            var methods = endpoint.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? ["GET"];
            foreach (var method in methods)
            {
                if (Anonymous.Contains((method, pattern)))
                {
                    continue;
                }
                yield return (method, Fill(endpoint.RoutePattern), endpoint);
            }
        }
    }

    /// <summary>A concrete URL for a pattern: ids become a fresh UUID, catch-alls a two-segment path, other parameters a word.</summary>
    private static string Fill(Microsoft.AspNetCore.Routing.Patterns.RoutePattern pattern)
    {
        var sb = new StringBuilder();
        foreach (var segment in pattern.PathSegments)
        {
            sb.Append('/');
            foreach (var part in segment.Parts)
            {
                switch (part)
                {
                    case Microsoft.AspNetCore.Routing.Patterns.RoutePatternLiteralPart literal:
                        sb.Append(literal.Content);
                        break;
                    case Microsoft.AspNetCore.Routing.Patterns.RoutePatternParameterPart { IsCatchAll: true }:
                        sb.Append("some/path");
                        break;
                    case Microsoft.AspNetCore.Routing.Patterns.RoutePatternParameterPart p:
                        sb.Append(p.Name.Contains("id", StringComparison.OrdinalIgnoreCase) ? Guid.NewGuid().ToString("D") : "name1");
                        break;
                }
            }
        }
        return sb.ToString();
    }

    [Fact]
    public void Route_enumeration_finds_every_area()
    {
        var routes = ApiRoutes(fixture.Host.App.Services).ToList();

        foreach (var area in new[] { "/api/devices", "/api/files/", "/api/firmware", "/api/users", "/api/domains", "/api/registry/", "/api/events", "/api/auth/me", "/api/apikeys" })
        {
            Assert.Contains(routes, r => r.Url.StartsWith(area, StringComparison.Ordinal));
        }
        Assert.True(routes.Count >= 40, $"only {routes.Count} routes found");
    }

    [Fact]
    public void Only_the_listed_routes_allow_anonymous_callers()
    {
        var open = fixture.Host.App.Services.GetServices<EndpointDataSource>().SelectMany(s => s.Endpoints).OfType<RouteEndpoint>()
            .Where(e => e.Metadata.GetMetadata<Microsoft.AspNetCore.Authorization.IAllowAnonymous>() is not null
                && ("/" + e.RoutePattern.RawText!.TrimStart('/')).StartsWith("/api/", StringComparison.Ordinal))
            .SelectMany(e => (e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? ["GET"]).Select(m => (m, "/" + e.RoutePattern.RawText!.TrimStart('/'))))
            .Order()
            .ToList();

        Assert.Equal(Anonymous.Order(), open);
    }

    public static TheoryData<string> Tokens() => ["none", "expired", "forged", "unsigned", "garbage", "unknown-key", "malformed-key"];

    [Theory]
    [MemberData(nameof(Tokens))]
    public async Task Every_api_route_answers_401_without_a_valid_token(string kind)
    {
        var token = kind switch
        {
            "none" => null,
            "expired" => ExpiredToken(),
            "forged" => ForgedToken(),
            "unsigned" => UnsignedToken(),
            "unknown-key" => CredentialToken.Create(CredentialToken.ApiKeyPrefix, Guid.NewGuid()),
            "malformed-key" => "m2mk_" + new string('a', 40),
            _ => "not.a.token",
        };
        var failures = new List<string>();
        foreach (var (method, url) in ApiRoutes(fixture.Host.App.Services))
        {
            using var request = new HttpRequestMessage(new HttpMethod(method), url);
            if (token is not null)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            }
            if (method is "POST" or "PUT" or "PATCH")
            {
                request.Content = RawJson("{}");
            }
            using var response = await fixture.Host.Anonymous.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Ct);
            if (response.StatusCode != HttpStatusCode.Unauthorized || !response.Headers.WwwAuthenticate.Any(h => h.Scheme == "Bearer"))
            {
                failures.Add($"{method} {url} → {(int)response.StatusCode}");
            }
        }
        Assert.Empty(failures);
    }

    [Fact]
    public async Task Valid_token_of_the_admin_reaches_the_routes()
    {
        var response = await fixture.Admin.GetAsync("/api/auth/me", Ct);

        var me = await response.JsonAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("admin", me.GetProperty("name").GetString());
        Assert.Equal("admin", me.GetProperty("role").GetString());
    }

    [Fact]
    public async Task Unauthorized_answer_is_a_problem_document()
    {
        var response = await fixture.Host.Anonymous.GetAsync("/api/devices", Ct);

        await response.AssertProblemAsync(401);
    }

    [Fact]
    public async Task Non_admin_gets_403_on_admin_routes()
    {
        var (user, _) = await fixture.Host.NewDomainUserAsync(fixture.Admin);

        foreach (var url in new[] { "/api/users", "/api/domains", "/api/registry/device" })
        {
            var response = await user.GetAsync(url, Ct);
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        }
    }

    [Fact]
    public async Task Token_of_a_deleted_user_stops_working_and_a_role_change_applies_at_once()
    {
        var name = "u" + Guid.NewGuid().ToString("N")[..10];
        var created = await (await fixture.Admin.PostAsJsonAsync("/api/users", new { name, password = "password-1234", domain = "default" }, Ct)).JsonAsync();
        var id = created.GetProperty("id").GetString();
        using var client = await fixture.Host.LoginAsync(name, "password-1234");

        var before = await client.GetAsync("/api/users", Ct);
        await fixture.Admin.PatchAsJsonAsync($"/api/users/{id}", new { role = "admin" }, Ct);
        var promoted = await client.GetAsync("/api/users", Ct);
        await fixture.Admin.DeleteAsync($"/api/users/{id}", Ct);
        var deleted = await client.GetAsync("/api/auth/me", Ct);

        Assert.Equal(HttpStatusCode.Forbidden, before.StatusCode);
        Assert.Equal(HttpStatusCode.OK, promoted.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, deleted.StatusCode);
    }

    [Fact]
    public async Task Scalar_reference_is_served_in_development_only()
    {
        await using var development = await ApiHost.StartAsync("--environment", "Development");

        var docs = await development.Anonymous.GetAsync("/scalar/v1", Ct);
        var production = await fixture.Host.Anonymous.GetAsync("/scalar/v1", Ct);

        Assert.Equal(HttpStatusCode.OK, docs.StatusCode);
        Assert.Contains("text/html", docs.Content.Headers.ContentType?.MediaType, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, production.StatusCode);
    }

    private string ExpiredToken()
    {
        // The real administrator, correctly signed: only the lifetime is wrong.
        var tokens = fixture.Host.Get<TokenService>();
        var admin = fixture.Host.Get<M2M.Storage.Entities.IUserStore>().GetByNameAsync("admin", Ct).AsTask().GetAwaiter().GetResult()!;
        return tokens.Issue(Caller.From(admin), TimeSpan.FromMinutes(5), DateTimeOffset.UtcNow.AddHours(-2)).AccessToken;
    }

    private static string ForgedToken() => SignedWith(new SymmetricSecurityKey(new byte[64]) { KeyId = "m2m-api" }, SecurityAlgorithms.HmacSha256);

    private static string UnsignedToken()
    {
        var header = Base64UrlEncoder.Encode("{\"alg\":\"none\",\"typ\":\"JWT\"}");
        var exp = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds();
        var payload = Base64UrlEncoder.Encode($"{{\"sub\":\"{Guid.NewGuid()}\",\"name\":\"admin\",\"role\":\"admin\",\"domain\":\"{Guid.NewGuid()}\",\"iss\":\"m2m\",\"aud\":\"m2m-api\",\"exp\":{exp}}}");
        return $"{header}.{payload}.";
    }

    private static string SignedWith(SecurityKey key, string algorithm)
    {
        var now = DateTime.UtcNow;
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = "m2m",
            Audience = TokenService.Audience,
            IssuedAt = now,
            NotBefore = now,
            Expires = now.AddHours(1),
            SigningCredentials = new SigningCredentials(key, algorithm),
            Claims = new Dictionary<string, object>
            {
                [CallerClaims.UserId] = Guid.NewGuid().ToString("D"),
                [CallerClaims.Name] = "admin",
                [CallerClaims.Role] = "admin",
                [CallerClaims.Domain] = Guid.NewGuid().ToString("D"),
            },
        });
    }
}
