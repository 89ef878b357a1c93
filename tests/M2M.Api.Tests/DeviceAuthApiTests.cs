using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using M2M.Ingest.Hosting;
using static M2M.Api.Tests.Http;

namespace M2M.Api.Tests;

/// <summary>A server of its own: these tests make devices fail identification, which must not slow down the other tests' devices.</summary>
public sealed class DeviceAuthApiFixture : IAsyncLifetime
{
    private ApiHost? _host;
    private HttpClient? _admin;

    public ApiHost Host => _host ?? throw new InvalidOperationException("Not started.");

    public HttpClient Admin => _admin ?? throw new InvalidOperationException("Not started.");

    public async ValueTask InitializeAsync()
    {
        _host = await ApiHost.StartAsync("--M2M:Ingest:Auth:FailuresBeforeDelay", "1000000", "--M2M:Ingest:Auth:PolicyCacheDuration", "00:00:00");
        _admin = await _host.LoginAsync();
    }

    public async ValueTask DisposeAsync()
    {
        _admin?.Dispose();
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }
    }
}

/// <summary>
/// The API of device authentication (docs/api.md, docs/device-authentication.md) with real devices
/// on the server's ALIP port: credentials at creation, secrets, certificates, domain policies,
/// firmware per domain, and who may change what.
/// </summary>
public sealed class DeviceAuthApiTests(DeviceAuthApiFixture fixture) : IClassFixture<DeviceAuthApiFixture>
{
    private HttpClient Admin => fixture.Admin;

    /// <summary>Opens an ALIP connection, sends <c>ID &lt;login&gt;</c> and returns the answer with the open connection.</summary>
    private async Task<(string? Answer, AlipLine Device)> IdentifyAsync(string login)
    {
        var device = await AlipLine.ConnectAsync(fixture.Host);
        return (await device.AskAsync($"ID {login}"), device);
    }

    private async Task<string?> AnswerAsync(string login)
    {
        var (answer, device) = await IdentifyAsync(login);
        device.Dispose();
        return answer;
    }

    private static async Task<Guid> DomainIdAsync(HttpClient client) =>
        (await (await client.GetAsync("/api/auth/me", Ct)).JsonAsync()).GetProperty("domainId").GetGuid();

    private async Task<JsonElement> CreateAsync(HttpClient client, object body, HttpStatusCode expected = HttpStatusCode.Created)
    {
        var response = await client.PostAsJsonAsync("/api/devices", body, Ct);
        Assert.True(response.StatusCode == expected, $"expected {expected}, got {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(Ct)}");
        return await response.JsonAsync();
    }

    [Fact]
    public async Task Creating_a_device_generates_a_secret_shown_once_and_stored_only_as_a_hash()
    {
        var ident = DevicesTests.NewIdent();
        var created = await CreateAsync(Admin, new { ident });
        var id = created.GetProperty("id").GetString();
        var secret = created.GetProperty("secret").GetString()!;

        Assert.Equal(43, secret.Length);
        var shown = await (await Admin.GetAsync($"/api/devices/{id}", Ct)).Content.ReadAsStringAsync(Ct);
        Assert.DoesNotContain(secret, shown, StringComparison.Ordinal);
        var credentials = await (await Admin.GetAsync($"/api/devices/{id}/credentials", Ct)).JsonAsync();
        Assert.True(credentials.GetProperty("hasSecret").GetBoolean());
        Assert.DoesNotContain(secret, credentials.ToString(), StringComparison.Ordinal);

        // What the registry holds is a salted hash, never the secret.
        var node = await (await Admin.GetAsync($"/api/registry/device/{id}/.credentials", Ct)).JsonAsync();
        var values = node.GetProperty("values").EnumerateObject().ToList();
        Assert.StartsWith("hs256$", values.Single(v => v.Name == "secret").Value.GetString(), StringComparison.Ordinal);
        Assert.All(values, v => Assert.DoesNotContain(secret, v.Value.GetString()!, StringComparison.Ordinal));

        Assert.Equal("ID 0", await AnswerAsync(ident));
        Assert.Equal("ID 1", await AnswerAsync($"{ident} {secret}"));
    }

    [Fact]
    public async Task A_domain_user_cannot_pre_register_an_ident_for_a_future_device()
    {
        var (user, _) = await fixture.Host.NewDomainUserAsync(Admin);
        var ident = DevicesTests.NewIdent();
        var created = await CreateAsync(user, new { ident });
        Assert.NotNull(created.GetProperty("secret").GetString());

        // The real device, which knows nothing of that secret, is not captured by the user's domain.
        var (answer, device) = await IdentifyAsync(ident);
        using (device)
        {
            Assert.Equal("ID 0", answer);
            Assert.Equal("ERR You must be identified", await device.AskAsync("D T 21.5"));
        }
        var data = await (await Admin.GetAsync($"/api/devices/{created.GetProperty("id").GetString()}/data", Ct)).JsonAsync();
        Assert.Empty(data.GetProperty("items").EnumerateArray());

        // Only an administrator may create a device without credentials.
        await (await user.PostAsJsonAsync("/api/devices", new { ident = DevicesTests.NewIdent(), unauthenticated = true }, Ct)).AssertProblemAsync(403);
        var legacy = DevicesTests.NewIdent();
        var open = await CreateAsync(Admin, new { ident = legacy, unauthenticated = true });
        Assert.Equal(JsonValueKind.Null, open.GetProperty("secret").ValueKind);
        Assert.Equal("ID 1", await AnswerAsync(legacy));
        await (await Admin.PostAsJsonAsync("/api/devices", new { ident = DevicesTests.NewIdent(), unauthenticated = true, secret = "k7Qm2xPz9LwR4tYv8NcB" }, Ct))
            .AssertProblemAsync(400, "unauthenticated");
    }

    [Fact]
    public async Task Secrets_are_rotated_with_the_device_disconnected_and_caller_secrets_must_be_strong()
    {
        var ident = DevicesTests.NewIdent();
        await (await Admin.PostAsJsonAsync("/api/devices", new { ident, secret = "abcdefghijklmnopqrst" }, Ct)).AssertProblemAsync(400, "secret");
        const string own = "k7Qm2xPz9LwR4tYv8NcB";
        var created = await CreateAsync(Admin, new { ident, secret = own });
        var id = created.GetProperty("id").GetString();
        Assert.Equal(JsonValueKind.Null, created.GetProperty("secret").ValueKind);

        var (answer, connected) = await IdentifyAsync($"{ident} {own}");
        using (connected)
        {
            Assert.Equal("ID 1", answer);
            var rotated = await Admin.PostAsJsonAsync($"/api/devices/{id}/secret", new { }, Ct);
            Assert.Equal(HttpStatusCode.OK, rotated.StatusCode);
            var secret = (await rotated.JsonAsync()).GetProperty("secret").GetString()!;

            // The connection authenticated with the old secret is closed.
            Assert.Contains(await connected.ReadUntilClosedAsync(), l => l.StartsWith("QUIT", StringComparison.Ordinal));
            Assert.Equal("ID 0", await AnswerAsync($"{ident} {own}"));
            Assert.Equal("ID 1", await AnswerAsync($"{ident} {secret}"));
        }

        await (await Admin.PostAsJsonAsync($"/api/devices/{id}/secret", new { secret = "short" }, Ct)).AssertProblemAsync(400, "secret");
        Assert.Equal(HttpStatusCode.NoContent, (await Admin.PostAsJsonAsync($"/api/devices/{id}/secret", new { secret = own }, Ct)).StatusCode);
        Assert.Equal("ID 1", await AnswerAsync($"{ident} {own}"));

        Assert.Equal(HttpStatusCode.NoContent, (await Admin.DeleteAsync($"/api/devices/{id}/secret", Ct)).StatusCode);
        Assert.False((await (await Admin.GetAsync($"/api/devices/{id}/credentials", Ct)).JsonAsync()).GetProperty("hasSecret").GetBoolean());
        Assert.Equal(HttpStatusCode.NotFound, (await Admin.DeleteAsync($"/api/devices/{id}/secret", Ct)).StatusCode);
    }

    [Fact]
    public async Task Certificates_are_registered_by_thumbprint_or_PEM_and_a_domain_user_keeps_at_least_one_credential()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var certificate = new CertificateRequest("CN=device", key, HashAlgorithmName.SHA256)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddDays(1));
        var thumbprint = certificate.GetCertHashString(HashAlgorithmName.SHA256).ToLowerInvariant();
        var colons = string.Join(":", Enumerable.Range(0, 32).Select(i => thumbprint.Substring(i * 2, 2).ToUpperInvariant()));

        var (user, _) = await fixture.Host.NewDomainUserAsync(Admin);
        var created = await CreateAsync(user, new { ident = DevicesTests.NewIdent(), certificateThumbprints = new[] { colons } });
        var id = created.GetProperty("id").GetString();
        Assert.Equal(JsonValueKind.Null, created.GetProperty("secret").ValueKind);
        var credentials = await (await user.GetAsync($"/api/devices/{id}/credentials", Ct)).JsonAsync();
        Assert.False(credentials.GetProperty("hasSecret").GetBoolean());
        Assert.Equal(thumbprint, Assert.Single(credentials.GetProperty("certificates").EnumerateArray()).GetProperty("thumbprint").GetString());

        // The same certificate again, by PEM: already there.
        Assert.Equal(HttpStatusCode.OK, (await user.PostAsJsonAsync($"/api/devices/{id}/certificates", new { certificate = certificate.ExportCertificatePem() }, Ct)).StatusCode);
        await (await user.PostAsJsonAsync($"/api/devices/{id}/certificates", new { thumbprint = "xyz" }, Ct)).AssertProblemAsync(400, "thumbprint");
        await (await user.PostAsJsonAsync($"/api/devices/{id}/certificates", new { certificate = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----" }, Ct)).AssertProblemAsync(400, "certificate");
        await (await user.PostAsJsonAsync($"/api/devices/{id}/certificates", new { thumbprint, certificate = certificate.ExportCertificatePem() }, Ct)).AssertProblemAsync(400, "thumbprint");

        // Its last credential stays until another one is set.
        await (await user.DeleteAsync($"/api/devices/{id}/certificates/{thumbprint}", Ct)).AssertProblemAsync(409);
        Assert.Equal(HttpStatusCode.OK, (await user.PostAsJsonAsync($"/api/devices/{id}/secret", new { }, Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await user.DeleteAsync($"/api/devices/{id}/certificates/{thumbprint}", Ct)).StatusCode);
        await (await user.DeleteAsync($"/api/devices/{id}/secret", Ct)).AssertProblemAsync(409);
        var second = await user.PostAsJsonAsync($"/api/devices/{id}/certificates", new { thumbprint }, Ct);
        Assert.Equal(HttpStatusCode.Created, second.StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await user.DeleteAsync($"/api/devices/{id}/secret", Ct)).StatusCode);
    }

    [Fact]
    public async Task A_domain_has_its_own_policy_its_users_may_tighten_it_but_only_an_admin_changes_auto_registration()
    {
        var (userA, nameA) = await fixture.Host.NewDomainUserAsync(Admin);
        var (userB, _) = await fixture.Host.NewDomainUserAsync(Admin);
        var domainA = await DomainIdAsync(userA);
        var policy = $"/api/domains/{domainA}/device-policy";

        var initial = await (await userA.GetAsync(policy, Ct)).JsonAsync();
        Assert.Equal("none", initial.GetProperty("effective").GetProperty("require").GetString());
        Assert.Equal(JsonValueKind.Null, initial.GetProperty("policy").GetProperty("require").ValueKind);
        Assert.False(initial.GetProperty("effective").GetProperty("autoRegister").GetBoolean());

        // A device of domain A without credentials (admin-made): accepted now, refused once A requires a secret.
        var legacy = DevicesTests.NewIdent();
        await CreateAsync(Admin, new { ident = legacy, unauthenticated = true, domain = nameA });
        Assert.Equal("ID 1", await AnswerAsync(legacy));

        var tightened = await userA.PutAsJsonAsync(policy, new { require = "secret" }, Ct);
        Assert.Equal(HttpStatusCode.OK, tightened.StatusCode);
        Assert.Equal("secret", (await tightened.JsonAsync()).GetProperty("effective").GetProperty("require").GetString());
        Assert.Equal("ID 0", await AnswerAsync(legacy));

        await (await userA.PutAsJsonAsync(policy, new { require = "secret", autoRegister = true, autoRegisterPatterns = new[] { "a:*" } }, Ct)).AssertProblemAsync(403);
        await (await userB.GetAsync(policy, Ct)).AssertProblemAsync(404);
        await (await userB.PutAsJsonAsync(policy, new { require = "none" }, Ct)).AssertProblemAsync(404);

        var byAdmin = await Admin.PutAsJsonAsync(policy, new { require = "either", autoRegister = true, autoRegisterPatterns = new[] { "zz" + Guid.NewGuid().ToString("N")[..4] + ":*" }, autoRegisterPerMinute = 10 }, Ct);
        Assert.Equal(HttpStatusCode.OK, byAdmin.StatusCode);
        var effective = (await byAdmin.JsonAsync()).GetProperty("effective");
        Assert.True(effective.GetProperty("autoRegister").GetBoolean());
        Assert.Equal(10, effective.GetProperty("autoRegisterPerMinute").GetInt32());
        await (await Admin.PutAsJsonAsync(policy, new { autoRegisterPatterns = new[] { "has space" } }, Ct)).AssertProblemAsync(400, "autoRegisterPatterns");
        await (await Admin.PutAsJsonAsync(policy, new { require = "sometimes" }, Ct)).AssertProblemAsync(400);

        // The domain user may still change "require" when the stored auto-registration is sent back unchanged.
        var stored = (await (await userA.GetAsync(policy, Ct)).JsonAsync()).GetProperty("policy");
        var body = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(stored.GetRawText())!;
        body["require"] = JsonSerializer.SerializeToElement("secret");
        Assert.Equal(HttpStatusCode.OK, (await userA.PutAsJsonAsync(policy, body, Ct)).StatusCode);
    }

    [Fact]
    public async Task A_domain_user_cannot_see_or_change_another_domains_device_credentials()
    {
        var (userA, _) = await fixture.Host.NewDomainUserAsync(Admin);
        var (userB, _) = await fixture.Host.NewDomainUserAsync(Admin);
        var id = (await CreateAsync(userA, new { ident = DevicesTests.NewIdent() })).GetProperty("id").GetString();

        await (await userB.GetAsync($"/api/devices/{id}/credentials", Ct)).AssertProblemAsync(404);
        await (await userB.PostAsJsonAsync($"/api/devices/{id}/secret", new { }, Ct)).AssertProblemAsync(404);
        await (await userB.DeleteAsync($"/api/devices/{id}/secret", Ct)).AssertProblemAsync(404);
        await (await userB.PostAsJsonAsync($"/api/devices/{id}/certificates", new { thumbprint = new string('a', 64) }, Ct)).AssertProblemAsync(404);
        await (await userB.DeleteAsync($"/api/devices/{id}/certificates/{new string('a', 64)}", Ct)).AssertProblemAsync(404);
        Assert.True((await (await userA.GetAsync($"/api/devices/{id}/credentials", Ct)).JsonAsync()).GetProperty("hasSecret").GetBoolean());
        Assert.Empty((await (await userA.GetAsync($"/api/devices/{id}/credentials", Ct)).JsonAsync()).GetProperty("certificates").EnumerateArray());
    }

    [Fact]
    public async Task Firmware_is_visible_and_readable_only_for_the_domains_it_is_given_to()
    {
        var (userA, domainA) = await fixture.Host.NewDomainUserAsync(Admin);
        var (userB, _) = await fixture.Host.NewDomainUserAsync(Admin);
        var name = $"fw-{Guid.NewGuid():N}";
        Assert.Equal(HttpStatusCode.Created, (await Admin.PutAsync($"/api/firmware/{name}", new ByteArrayContent([1, 2, 3]), Ct)).StatusCode);

        async Task<bool> ListedAsync(HttpClient client) =>
            (await (await client.GetAsync("/api/firmware", Ct)).JsonAsync()).EnumerateArray().Any(f => f.GetProperty("name").GetString() == name);

        // Nobody's until an administrator says whose.
        Assert.False(await ListedAsync(userA));
        await (await userA.GetAsync($"/api/firmware/{name}", Ct)).AssertProblemAsync(404);
        var access = await (await Admin.GetAsync($"/api/firmware/{name}/domains", Ct)).JsonAsync();
        Assert.False(access.GetProperty("allDomains").GetBoolean());
        Assert.Empty(access.GetProperty("domains").EnumerateArray());

        var set = await Admin.PutAsJsonAsync($"/api/firmware/{name}/domains", new { domains = new[] { domainA } }, Ct);
        Assert.Equal(HttpStatusCode.OK, set.StatusCode);
        Assert.Equal(domainA, Assert.Single((await set.JsonAsync()).GetProperty("domains").EnumerateArray()).GetString());
        Assert.True(await ListedAsync(userA));
        Assert.Equal([1, 2, 3], await (await userA.GetAsync($"/api/firmware/{name}", Ct)).Content.ReadAsByteArrayAsync(Ct));
        Assert.False(await ListedAsync(userB));
        await (await userB.GetAsync($"/api/firmware/{name}", Ct)).AssertProblemAsync(404);
        Assert.True(await ListedAsync(Admin));

        await (await userA.PutAsJsonAsync($"/api/firmware/{name}/domains", new { allDomains = true }, Ct)).AssertProblemAsync(403);
        await (await Admin.PutAsJsonAsync($"/api/firmware/{name}/domains", new { domains = new[] { "no-such-domain" } }, Ct)).AssertProblemAsync(400, "domains");
        await (await Admin.PutAsJsonAsync($"/api/firmware/{name}/domains", new { allDomains = true, domains = new[] { domainA } }, Ct)).AssertProblemAsync(400, "domains");
        await (await Admin.PutAsJsonAsync($"/api/firmware/none-{Guid.NewGuid():N}/domains", new { allDomains = true }, Ct)).AssertProblemAsync(404);
        Assert.Equal(HttpStatusCode.OK, (await Admin.PutAsJsonAsync($"/api/firmware/{name}/domains", new { allDomains = true }, Ct)).StatusCode);
        Assert.True(await ListedAsync(userB));
    }
}

/// <summary>A minimal ALIP device for API tests: one line out, one line in.</summary>
public sealed class AlipLine : IDisposable
{
    private readonly TcpClient _client;
    private readonly NetworkStream _stream;
    private readonly StreamReader _reader;

    private AlipLine(TcpClient client)
    {
        _client = client;
        _stream = client.GetStream();
        _reader = new StreamReader(_stream, Encoding.ASCII);
    }

    public static async Task<AlipLine> ConnectAsync(ApiHost host)
    {
        var endpoints = host.Get<IngestEndpoints>();
        await endpoints.Started.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, endpoints.Alip!.Port, Ct);
        return new AlipLine(client);
    }

    public async Task<string?> AskAsync(string line)
    {
        await _stream.WriteAsync(Encoding.ASCII.GetBytes(line + "\n"), Ct);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(15));
        return await _reader.ReadLineAsync(timeout.Token);
    }

    /// <summary>Reads until the server closes the connection (15 s at most).</summary>
    public async Task<List<string>> ReadUntilClosedAsync()
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(15));
        var lines = new List<string>();
        try
        {
            while (await _reader.ReadLineAsync(timeout.Token) is { } line)
            {
                lines.Add(line);
            }
        }
        catch (IOException)
        {
        }
        return lines;
    }

    public void Dispose()
    {
        _reader.Dispose();
        _client.Dispose();
    }
}
