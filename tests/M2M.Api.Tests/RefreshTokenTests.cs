using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using M2M.Storage.Registry;
using static M2M.Api.Tests.Http;

namespace M2M.Api.Tests;

/// <summary>
/// The refresh path: <c>/api/auth/token</c> → <c>/api/auth/refresh</c> (rotating, with reuse detection) →
/// <c>/api/auth/logout</c>, against the started server.
/// </summary>
[Collection(ApiCollection.Name)]
public class RefreshTokenTests(ApiFixture fixture)
{
    private HttpClient Anonymous => fixture.Host.Anonymous;

    private async Task<(string Name, string Id)> NewUserAsync()
    {
        var name = "r" + Guid.NewGuid().ToString("N")[..10];
        var created = await (await fixture.Admin.PostAsJsonAsync("/api/users", new { name, password = "password-" + name, domain = "default" }, Ct)).JsonAsync();
        return (name, created.GetProperty("id").GetString()!);
    }

    private async Task<JsonElement> SignInAsync(string user)
    {
        var response = await Anonymous.PostAsJsonAsync("/api/auth/token", new { user, password = "password-" + user }, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.JsonAsync();
    }

    private Task<HttpResponseMessage> RefreshAsync(string token) => Anonymous.PostAsJsonAsync("/api/auth/refresh", new { refresh_token = token }, Ct);

    private static string RefreshToken(JsonElement body) => body.GetProperty("refresh_token").GetString()!;

    [Fact]
    public async Task Refresh_answers_the_token_shape_and_rotates()
    {
        var (user, _) = await NewUserAsync();
        var first = await SignInAsync(user);

        var response = await RefreshAsync(RefreshToken(first));
        var second = await response.JsonAsync();
        using var client = fixture.Host.WithToken(second.GetProperty("access_token").GetString()!);
        var me = await (await client.GetAsync("/api/auth/me", Ct)).JsonAsync();
        var third = await RefreshAsync(RefreshToken(second));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(["access_token", "token_type", "expires_in", "refresh_token", "refresh_expires_in"], second.EnumerateObject().Select(p => p.Name));
        Assert.Equal("Bearer", second.GetProperty("token_type").GetString());
        Assert.Equal(3600, second.GetProperty("expires_in").GetInt32());
        Assert.Equal(30 * 24 * 3600, second.GetProperty("refresh_expires_in").GetInt32());
        Assert.NotEqual(RefreshToken(first), RefreshToken(second));
        Assert.Equal(user, me.GetProperty("name").GetString());
        Assert.Equal(HttpStatusCode.OK, third.StatusCode);
    }

    [Fact]
    public async Task Reusing_a_rotated_token_revokes_the_whole_family()
    {
        var (user, _) = await NewUserAsync();
        var first = RefreshToken(await SignInAsync(user));
        var other = RefreshToken(await SignInAsync(user));
        var second = RefreshToken(await (await RefreshAsync(first)).JsonAsync());

        var reuse = await RefreshAsync(first);
        var successor = await RefreshAsync(second);
        var otherSignIn = await RefreshAsync(other);

        await reuse.AssertProblemAsync(401);
        await successor.AssertProblemAsync(401);
        Assert.Equal(HttpStatusCode.OK, otherSignIn.StatusCode);
    }

    [Fact]
    public async Task Logout_ends_the_family_and_answers_204_again()
    {
        var (user, _) = await NewUserAsync();
        var token = RefreshToken(await SignInAsync(user));

        var logout = await Anonymous.PostAsJsonAsync("/api/auth/logout", new { refresh_token = token }, Ct);
        var refresh = await RefreshAsync(token);
        var again = await Anonymous.PostAsJsonAsync("/api/auth/logout", new { refresh_token = token }, Ct);
        var garbage = await Anonymous.PostAsJsonAsync("/api/auth/logout", new { refresh_token = "nonsense" }, Ct);

        Assert.Equal(HttpStatusCode.NoContent, logout.StatusCode);
        await refresh.AssertProblemAsync(401);
        Assert.Equal(HttpStatusCode.NoContent, again.StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, garbage.StatusCode);
    }

    [Fact]
    public async Task A_password_change_revokes_the_refresh_tokens()
    {
        var (user, id) = await NewUserAsync();
        var token = RefreshToken(await SignInAsync(user));

        (await fixture.Admin.PutAsJsonAsync($"/api/users/{id}/password", new { password = "another-password" }, Ct)).EnsureSuccessStatusCode();
        var refresh = await RefreshAsync(token);

        await refresh.AssertProblemAsync(401);
    }

    [Fact]
    public async Task Deleting_the_user_revokes_the_refresh_tokens()
    {
        var (user, id) = await NewUserAsync();
        var token = RefreshToken(await SignInAsync(user));

        (await fixture.Admin.DeleteAsync($"/api/users/{id}", Ct)).EnsureSuccessStatusCode();
        var refresh = await RefreshAsync(token);

        await refresh.AssertProblemAsync(401);
    }

    [Fact]
    public async Task A_role_change_applies_to_the_refreshed_access_token()
    {
        var (user, id) = await NewUserAsync();
        var token = RefreshToken(await SignInAsync(user));

        (await fixture.Admin.PatchAsJsonAsync($"/api/users/{id}", new { role = "operator" }, Ct)).EnsureSuccessStatusCode();
        var refreshed = await (await RefreshAsync(token)).JsonAsync();
        using var client = fixture.Host.WithToken(refreshed.GetProperty("access_token").GetString()!);

        Assert.Equal("operator", (await (await client.GetAsync("/api/auth/me", Ct)).JsonAsync()).GetProperty("role").GetString());
    }

    [Fact]
    public async Task An_expired_refresh_token_is_refused()
    {
        await using var host = await ApiHost.StartAsync("--M2M:Api:RefreshTokenLifetime", "00:00:05");
        var signIn = await (await host.Anonymous.PostAsJsonAsync("/api/auth/token", new { user = "admin", password = ApiHost.AdminPassword }, Ct)).JsonAsync();
        var token = RefreshToken(signIn);
        var within = await host.Anonymous.PostAsJsonAsync("/api/auth/refresh", new { refresh_token = token }, Ct);
        var rotated = RefreshToken(await within.JsonAsync());
        var rotatedAt = DateTimeOffset.UtcNow;

        // Let the rotated token's five seconds pass (and a margin), without using it.
        await Task.Delay(rotatedAt.AddSeconds(5.5) - DateTimeOffset.UtcNow, Ct);
        var refresh = await host.Anonymous.PostAsJsonAsync("/api/auth/refresh", new { refresh_token = rotated }, Ct);

        Assert.Equal(HttpStatusCode.OK, within.StatusCode);
        Assert.Equal(5, signIn.GetProperty("refresh_expires_in").GetInt32());
        await refresh.AssertProblemAsync(401);
    }

    [Fact]
    public async Task Refresh_tokens_are_stored_only_as_hashes()
    {
        var (user, _) = await NewUserAsync();
        var first = RefreshToken(await SignInAsync(user));
        var second = RefreshToken(await (await RefreshAsync(first)).JsonAsync());

        var everything = await fixture.Host.Get<IRegistry>().ExportJsonAsync(RegistryPath.Root, Ct);

        Assert.DoesNotContain(first[38..], everything, StringComparison.Ordinal);
        Assert.DoesNotContain(second[38..], everything, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{}", "refresh_token")]
    [InlineData("{\"refresh_token\":\"\"}", "refresh_token")]
    [InlineData("{\"refresh_token\":1}", "refresh_token")]
    [InlineData("{\"refreshToken\":\"x\"}", "refreshToken")]
    public async Task Bad_refresh_bodies_are_400_naming_the_field(string json, string field)
    {
        var refresh = await Anonymous.PostAsync("/api/auth/refresh", RawJson(json), Ct);
        var logout = await Anonymous.PostAsync("/api/auth/logout", RawJson(json), Ct);

        await refresh.AssertProblemAsync(400, field);
        await logout.AssertProblemAsync(400, field);
    }

    [Theory]
    [InlineData("nonsense")]
    [InlineData("m2mr_00000000000000000000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    public async Task Unknown_refresh_tokens_are_401(string token)
    {
        var refresh = await RefreshAsync(token);

        await refresh.AssertProblemAsync(401);
    }
}
