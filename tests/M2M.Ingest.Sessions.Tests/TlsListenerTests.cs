using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using M2M.Ingest.M2mp;
using M2M.Storage.Entities;
using M2M.Messaging;
using M2M.Server;
using M2M.Storage;
using M2M.Testing;
using Microsoft.Extensions.Configuration;

namespace M2M.Ingest.Sessions.Tests;

/// <summary>
/// The TLS listeners over real sockets with certificates made in the test: plain ports off, PEM and
/// PFX certificates, reload, start-up errors, and client certificates (CA + CN, pinned thumbprints).
/// </summary>
public sealed class TlsListenerTests : IDisposable
{
    private readonly TempDirectory _files = new("m2m-tls");
    private readonly X509Certificate2 _serverCertificate = TestCertificates.Server();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _files.Dispose();

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>A server with TLS on free ports and the PEM server certificate; <paramref name="settings"/> as for <see cref="DeviceServer.StartAsync"/>.</summary>
    private Task<DeviceServer> StartTlsAsync(params string[] settings)
    {
        var (certificate, key) = TestCertificates.WritePem(_files, _serverCertificate);
        return DeviceServer.StartAsync(
        [
            "Tls:Enabled=true", "Tls:M2mpPort=0", "Tls:AlipPort=0", $"Tls:CertificatePath={certificate}", $"Tls:KeyPath={key}",
            "Auth:FailuresBeforeDelay=1000", .. settings,
        ]);
    }

    private static async Task<byte> M2mpIdentResultAsync(M2mpDevice device, string identification)
    {
        await device.SendIdentAsync(identification);
        var frame = await device.ReadAsync();
        Assert.Equal(M2mpFrameKind.IdentificationResult, frame!.Kind);
        return frame.Value;
    }

    [Fact]
    public async Task With_plain_ports_off_only_TLS_serves_devices_and_the_plain_ports_refuse_connections()
    {
        var m2mpPort = FreePort();
        var alipPort = FreePort();
        await using var server = await StartTlsAsync("PlainPorts=false", $"M2mpPort={m2mpPort}", $"AlipPort={alipPort}");

        Assert.Null(server.Endpoints.M2mp);
        Assert.Null(server.Endpoints.Alip);
        foreach (var port in new[] { m2mpPort, alipPort })
        {
            using var client = new TcpClient();
            var refused = await Assert.ThrowsAsync<SocketException>(async () => await client.ConnectAsync(IPAddress.Loopback, port, Ct));
            Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
        }

        var (device, secret) = await DeviceAuthenticationTests.DeviceWithSecretAsync(server);
        await using var alip = await server.ConnectAlipTlsAsync(_serverCertificate);
        Assert.Equal("ID 0", await alip.AskAsync($"ID {device.Ident}"));
        Assert.Equal("ID 1", await alip.AskAsync($"ID {device.Ident} {secret}"));
        await alip.ExpectAsync("S GA");
        await alip.SendAsync("D T 21.5");
        await alip.BarrierAsync();

        await using var m2mp = await server.ConnectM2mpTlsAsync(_serverCertificate);
        await m2mp.IdentifyNewAsync(Idents.New());
        await m2mp.PingAsync(3);
        Assert.Single(await server.RecordsAsync(device.Id, "sen:temp"));
    }

    [Fact]
    public async Task A_PFX_certificate_is_served_and_a_replaced_file_is_reloaded_while_a_broken_one_is_not()
    {
        var path = TestCertificates.WritePfx(_files, _serverCertificate, "pfx-pass");
        await using var server = await DeviceServer.StartAsync(
            "Tls:Enabled=true", "Tls:M2mpPort=0", "Tls:AlipPort=0", $"Tls:CertificatePath={path}", "Tls:CertificatePassword=pfx-pass",
            "Tls:ReloadInterval=00:00:00.100");
        await using (var first = await server.ConnectAlipTlsAsync(_serverCertificate))
        {
            Assert.StartsWith("T ", await first.AskAsync("T"));
        }

        var renewed = TestCertificates.Server();
        var staged = TestCertificates.WritePfx(_files, renewed, "pfx-pass", "renewed.pfx");
        File.Move(staged, path, overwrite: true);
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddSeconds(5));
        await DeviceServer.EventuallyAsync(async () =>
        {
            try
            {
                await using var probe = await server.ConnectAlipTlsAsync(renewed);
                return true;
            }
            catch (Exception e) when (e is System.Security.Authentication.AuthenticationException or IOException)
            {
                return false;
            }
        }, "the renewed certificate served");

        // A broken file keeps the current certificate in use.
        await File.WriteAllTextAsync(path, "not a certificate", Ct);
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddSeconds(10));
        await Task.Delay(500, Ct);
        await using var still = await server.ConnectAlipTlsAsync(renewed);
        Assert.StartsWith("T ", await still.AskAsync("T"));
    }

    [Theory]
    [InlineData("missing", "does not exist")]
    [InlineData("wrong-password", "cannot be loaded")]
    [InlineData("no-key", "cannot be loaded")]
    public async Task A_bad_certificate_configuration_stops_the_start_with_a_message_naming_the_setting(string problem, string expected)
    {
        var settings = new List<string> { "Tls:Enabled=true", "Tls:M2mpPort=0", "Tls:AlipPort=0" };
        switch (problem)
        {
            case "missing":
                settings.Add($"Tls:CertificatePath={Path.Combine(_files.Path, "none.pfx")}");
                break;
            case "wrong-password":
                settings.Add($"Tls:CertificatePath={TestCertificates.WritePfx(_files, _serverCertificate, "right")}");
                settings.Add("Tls:CertificatePassword=wrong");
                break;
            default:
                settings.Add($"Tls:CertificatePath={TestCertificates.WriteCertificatePem(_files, _serverCertificate, "bare.crt")}");
                break;
        }
        var error = await Assert.ThrowsAnyAsync<Exception>(async () => await (await DeviceServer.StartAsync([.. settings])).DisposeAsync());
        var message = error is AggregateException aggregate ? string.Join(" ", aggregate.InnerExceptions.Select(e => e.Message)) : error.Message;
        Assert.Contains("M2M:Ingest:Tls:CertificatePath", message, StringComparison.Ordinal);
        Assert.Contains(expected, message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_certificate_from_the_device_CA_authenticates_the_device_named_by_its_CN_and_no_other()
    {
        var authority = TestCertificates.Authority();
        var caPath = TestCertificates.WriteCertificatePem(_files, authority, "devices-ca.pem");
        await using var server = await StartTlsAsync("Tls:ClientCertificates=Allow", $"Tls:ClientCaPath={caPath}", "Auth:Require=Certificate");
        var ident = Idents.New();
        var certificate = TestCertificates.Device(ident, authority);

        // Unknown ident with its CA certificate: registered (the certificate is pinned to it).
        await using (var device = await server.ConnectAlipTlsAsync(_serverCertificate, certificate))
        {
            Assert.Equal("ID 1", await device.AskAsync($"ID {ident}"));
        }
        var created = await server.DeviceAsync(ident);
        Assert.True((await server.Services.GetRequiredService<IDeviceAuthStore>().GetCredentialsAsync(created.Id, Ct)).HasCertificate(DeviceCertificates.Thumbprint(certificate)));

        // A renewed certificate from the CA for the same CN works too (not pinned, named by the CA).
        await using (var renewed = await server.ConnectM2mpTlsAsync(_serverCertificate, TestCertificates.Device(ident, authority)))
        {
            Assert.Equal(1, await M2mpIdentResultAsync(renewed, ident));
        }

        // The same certificate claiming another device, no certificate, a CA certificate of another CN: refused.
        var (other, _) = await DeviceAuthenticationTests.DeviceWithSecretAsync(server);
        await using var claim = await server.ConnectAlipTlsAsync(_serverCertificate, certificate);
        Assert.Equal("ID 0", await claim.AskAsync($"ID {other.Ident}"));
        await using var bare = await server.ConnectAlipTlsAsync(_serverCertificate);
        Assert.Equal("ID 0", await bare.AskAsync($"ID {ident}"));
        await using var foreign = await server.ConnectAlipTlsAsync(_serverCertificate, TestCertificates.Device(Idents.New(), authority));
        Assert.Equal("ID 0", await foreign.AskAsync($"ID {ident}"));
        // A self-signed certificate with the right CN is not the CA's word.
        await using var forged = await server.ConnectAlipTlsAsync(_serverCertificate, TestCertificates.Device(ident));
        Assert.Equal("ID 0", await forged.AskAsync($"ID {ident}"));
    }

    [Fact]
    public async Task A_pinned_self_signed_certificate_authenticates_its_device_only()
    {
        await using var server = await StartTlsAsync("Tls:ClientCertificates=Allow");
        var ident = Idents.New();
        var pinned = TestCertificates.Device(ident);
        var device = await server.Devices.CreateAsync(ident, null, null, new DeviceCredentialSeed(null, [DeviceCertificates.Thumbprint(pinned)]), Ct);

        await using (var alip = await server.ConnectAlipTlsAsync(_serverCertificate, pinned))
        {
            Assert.Equal("ID 1", await alip.AskAsync($"ID {ident}"));
        }
        await using (var m2mp = await server.ConnectM2mpTlsAsync(_serverCertificate, pinned))
        {
            Assert.Equal(1, await M2mpIdentResultAsync(m2mp, ident));
        }

        // Another key with the same subject, no certificate, a secret it never had: refused.
        await using var lookalike = await server.ConnectAlipTlsAsync(_serverCertificate, TestCertificates.Device(ident));
        Assert.Equal("ID 0", await lookalike.AskAsync($"ID {ident}"));
        await using var none = await server.ConnectAlipTlsAsync(_serverCertificate);
        Assert.Equal("ID 0", await none.AskAsync($"ID {ident}"));
        Assert.Equal("ID 0", await none.AskAsync($"ID {ident} {DeviceSecrets.Generate()}"));
        await using var plain = await server.ConnectAlipAsync();
        Assert.Equal("ID 0", await plain.AskAsync($"ID {device.Ident}"));
    }

    [Fact]
    public async Task A_host_without_HTTP_serves_devices_over_TLS()
    {
        var (certificate, key) = TestCertificates.WritePem(_files, _serverCertificate);
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["M2M:DataDirectory"] = Path.Combine(_files.Path, "data"),
            ["M2M:Ingest:PlainPorts"] = "false",
            ["M2M:Ingest:Tls:Enabled"] = "true",
            ["M2M:Ingest:Tls:M2mpPort"] = "0",
            ["M2M:Ingest:Tls:AlipPort"] = "0",
            ["M2M:Ingest:Tls:CertificatePath"] = certificate,
            ["M2M:Ingest:Tls:KeyPath"] = key,
            ["Logging:LogLevel:Default"] = "Warning",
        });
        builder.AddStorage();
        builder.AddStorageBackend();
        builder.AddBus();
        builder.AddIngest();
        using var host = builder.Build();
        await host.StartAsync(Ct);
        try
        {
            var endpoints = host.Services.GetRequiredService<Hosting.IngestEndpoints>();
            var (client, stream) = await TestCertificates.ConnectAsync(endpoints.AlipTls!.Port, _serverCertificate);
            await using var device = new AlipDevice(client, stream);
            await device.IdentifyAsync(Idents.New());
            await device.ExpectAsync("S GA");
        }
        finally
        {
            await host.StopAsync(Ct);
        }
    }

    [Fact]
    public async Task When_client_certificates_are_required_a_connection_without_one_is_not_served()
    {
        await using var server = await StartTlsAsync("Tls:ClientCertificates=Require");
        string? answer;
        try
        {
            await using var device = await server.ConnectAlipTlsAsync(_serverCertificate);
            await device.SendAsync("T");
            answer = await device.ReadLineAsync();
        }
        catch (Exception e) when (e is System.Security.Authentication.AuthenticationException or IOException)
        {
            answer = null;
        }
        Assert.Null(answer);

        var ident = Idents.New();
        await using var withCertificate = await server.ConnectAlipTlsAsync(_serverCertificate, TestCertificates.Device(ident));
        Assert.Equal("ID 1", await withCertificate.AskAsync($"ID {ident}"));
    }
}
