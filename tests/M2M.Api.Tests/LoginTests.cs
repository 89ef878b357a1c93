using System.Net;
using System.Net.Http.Json;
using M2M.Testing;
using static M2M.Api.Tests.Http;

namespace M2M.Api.Tests;

[Collection(ApiCollection.Name)]
public class LoginTests(ApiFixture fixture)
{
    [Fact]
    public async Task Correct_password_gets_a_bearer_token()
    {
        var response = await fixture.Host.Anonymous.PostAsJsonAsync("/api/auth/token", new { user = "admin", password = ApiHost.AdminPassword }, Ct);

        var body = await response.JsonAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Bearer", body.GetProperty("token_type").GetString());
        Assert.Equal(3600, body.GetProperty("expires_in").GetInt32());
        Assert.Equal(3, body.GetProperty("access_token").GetString()!.Split('.').Length);
        Assert.StartsWith("m2mr_", body.GetProperty("refresh_token").GetString(), StringComparison.Ordinal);
        Assert.Equal(30 * 24 * 3600, body.GetProperty("refresh_expires_in").GetInt32());
    }

    [Theory]
    [InlineData("admin", "wrong-password")]
    [InlineData("nosuchuser", "whatever-password")]
    public async Task Wrong_password_or_unknown_user_is_401(string user, string password)
    {
        var response = await fixture.Host.Anonymous.PostAsJsonAsync("/api/auth/token", new { user, password }, Ct);

        await response.AssertProblemAsync(401);
    }

    [Theory]
    [InlineData("{\"user\":\"admin\"}", "password")]
    [InlineData("{\"user\":\"admin\",\"password\":\"x\",\"extra\":1}", "extra")]
    [InlineData("{\"user\":\"admin\",\"password\":12}", "password")]
    [InlineData("{\"user\":\"admin\",", "$")]
    [InlineData("{\"user\":\"\",\"password\":\"x\"}", "user")]
    public async Task Bad_login_body_is_400_naming_the_field(string json, string field)
    {
        var response = await fixture.Host.Anonymous.PostAsync("/api/auth/token", RawJson(json), Ct);

        await response.AssertProblemAsync(400, field);
    }

    [Fact]
    public async Task Repeated_failures_for_one_user_from_one_address_are_throttled_with_retry_after()
    {
        var user = "u" + Guid.NewGuid().ToString("N")[..10];
        (await fixture.Admin.PostAsJsonAsync("/api/users", new { name = user, password = "right-password", domain = "default" }, Ct)).EnsureSuccessStatusCode();

        for (var i = 0; i < 3; i++)
        {
            var failed = await fixture.Host.Anonymous.PostAsJsonAsync("/api/auth/token", new { user, password = "wrong-password" }, Ct);
            Assert.Equal(HttpStatusCode.Unauthorized, failed.StatusCode);
        }
        var throttled = await fixture.Host.Anonymous.PostAsJsonAsync("/api/auth/token", new { user, password = "right-password" }, Ct);

        await throttled.AssertProblemAsync(429);
        Assert.True(throttled.Headers.RetryAfter?.Delta > TimeSpan.Zero);
        // Another user from the same address is not affected, nor the same user from another address.
        var other = await fixture.Host.Anonymous.PostAsJsonAsync("/api/auth/token", new { user = "admin", password = ApiHost.AdminPassword }, Ct);
        Assert.Equal(HttpStatusCode.OK, other.StatusCode);
        using var elsewhere = fixture.Host.ClientFrom("127.0.0.9");
        var same = await elsewhere.PostAsJsonAsync("/api/auth/token", new { user, password = "right-password" }, Ct);
        Assert.Equal(HttpStatusCode.OK, same.StatusCode);
    }

    [Fact]
    public async Task Many_failures_from_one_address_are_throttled()
    {
        await using var host = await ApiHost.StartAsync("--M2M:Api:LoginAddressFreeFailures", "3");

        for (var i = 0; i < 3; i++)
        {
            var response = await host.Anonymous.PostAsJsonAsync("/api/auth/token", new { user = $"someone{i}", password = "whatever-password" }, Ct);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }
        // The admin never signed in from this address: it gets no pass.
        var throttled = await host.Anonymous.PostAsJsonAsync("/api/auth/token", new { user = "admin", password = ApiHost.AdminPassword }, Ct);

        await throttled.AssertProblemAsync(429);
        Assert.NotNull(throttled.Headers.RetryAfter);
    }

    [Fact]
    public async Task Generated_signing_key_is_owner_only_and_survives_a_restart()
    {
        using var data = new TempDirectory("m2m-api-key");
        string token;
        await using (var first = await ApiHost.StartAsync(data))
        {
            using var admin = await first.LoginAsync();
            token = admin.DefaultRequestHeaders.Authorization!.Parameter!;
        }
        var keyFile = Path.Combine(data.Path, "api-signing.key");
        Assert.True(File.Exists(keyFile));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyFile));
        }

        await using var second = await ApiHost.StartAsync(data);
        using var client = second.WithToken(token);
        var response = await client.GetAsync("/api/auth/me", Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Configured_signing_key_is_used_and_no_key_file_is_written()
    {
        await using var host = await ApiHost.StartAsync("--M2M:Api:SigningKey", Convert.ToBase64String(new byte[48]));
        using var admin = await host.LoginAsync();

        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/api/auth/me", Ct)).StatusCode);
        Assert.False(File.Exists(Path.Combine(host.DataDirectory, "api-signing.key")));
    }

    [Fact]
    public async Task Without_configured_password_the_first_admin_gets_a_generated_one()
    {
        using var data = new TempDirectory("m2m-api-admin");
        var app = M2M.Server.M2MServer.Build(["--urls", "http://127.0.0.1:0", "--M2M:DataDirectory", data.Path, "--M2M:Ingest:M2mpPort", "0", "--M2M:Ingest:AlipPort", "0"]);
        await app.StartAsync(Ct);
        try
        {
            var users = app.Services.GetRequiredService<M2M.Storage.Entities.IUserStore>();
            var admin = await users.GetByNameAsync("admin", Ct);
            Assert.NotNull(admin);
            Assert.Equal("admin", admin.Role);
            Assert.Null(await users.VerifyPasswordAsync("admin", "", Ct));
        }
        finally
        {
            await app.StopAsync(Ct);
            await app.DisposeAsync();
        }
    }
}
