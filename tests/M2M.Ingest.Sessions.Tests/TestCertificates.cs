using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using M2M.Testing;

namespace M2M.Ingest.Sessions.Tests;

/// <summary>Certificates made in the test with <see cref="CertificateRequest"/>: a server certificate, a device CA and device certificates.</summary>
public static class TestCertificates
{
    private static readonly Oid ClientAuth = new("1.3.6.1.5.5.7.3.2");
    private static readonly Oid ServerAuth = new("1.3.6.1.5.5.7.3.1");

    /// <summary>A self-signed server certificate for <c>localhost</c> (with its key).</summary>
    public static X509Certificate2 Server(string name = "localhost")
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([ServerAuth], critical: false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(name);
        request.CertificateExtensions.Add(san.Build());
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
    }

    /// <summary>A certificate authority for devices (with its key).</summary>
    public static X509Certificate2 Authority(string name = "M2M test device CA")
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        // Outlives the device certificates it issues.
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-10), DateTimeOffset.UtcNow.AddDays(2));
    }

    /// <summary>A device certificate with subject <c>CN=&lt;ident&gt;</c> signed by <paramref name="authority"/>, or self-signed when it is null.</summary>
    public static X509Certificate2 Device(string ident, X509Certificate2? authority = null)
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={ident}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([ClientAuth], critical: false));
        var notBefore = DateTimeOffset.UtcNow.AddMinutes(-5);
        var notAfter = DateTimeOffset.UtcNow.AddDays(1);
        if (authority is null)
        {
            return request.CreateSelfSigned(notBefore, notAfter);
        }
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(authority, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        var serial = new byte[12];
        RandomNumberGenerator.Fill(serial);
        using var issued = request.Create(authority, notBefore, notAfter, serial);
        return issued.CopyWithPrivateKey(key);
    }

    /// <summary>Writes <paramref name="certificate"/> with its key as a PFX file.</summary>
    public static string WritePfx(TempDirectory directory, X509Certificate2 certificate, string password, string name = "server.pfx")
    {
        var path = Path.Combine(directory.Path, name);
        File.WriteAllBytes(path, certificate.Export(X509ContentType.Pkcs12, password));
        return path;
    }

    /// <summary>Writes <paramref name="certificate"/> as PEM and its key as a PEM file; returns both paths.</summary>
    public static (string Certificate, string Key) WritePem(TempDirectory directory, X509Certificate2 certificate, string name = "server")
    {
        var certificatePath = Path.Combine(directory.Path, name + ".crt");
        var keyPath = Path.Combine(directory.Path, name + ".key");
        File.WriteAllText(certificatePath, certificate.ExportCertificatePem());
        File.WriteAllText(keyPath, certificate.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        return (certificatePath, keyPath);
    }

    /// <summary>Writes <paramref name="certificate"/> (no key) as PEM.</summary>
    public static string WriteCertificatePem(TempDirectory directory, X509Certificate2 certificate, string name)
    {
        var path = Path.Combine(directory.Path, name);
        File.WriteAllText(path, certificate.ExportCertificatePem());
        return path;
    }

    /// <summary>
    /// Opens a TLS connection to <paramref name="port"/> as a device would: the server certificate
    /// must be <paramref name="expectedServer"/> (pinned by thumbprint); <paramref name="client"/> is
    /// sent when the server asks for one. Returns the TCP client and the TLS stream, or throws when
    /// the handshake fails.
    /// </summary>
    public static async Task<(TcpClient Client, SslStream Stream)> ConnectAsync(int port, X509Certificate2 expectedServer, X509Certificate2? client = null)
    {
        var tcp = new TcpClient();
        try
        {
            await tcp.ConnectAsync(System.Net.IPAddress.Loopback, port, TestContext.Current.CancellationToken);
            var ssl = new SslStream(tcp.GetStream(), leaveInnerStreamOpen: false);
            var options = new SslClientAuthenticationOptions
            {
                TargetHost = "localhost",
                RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                    certificate is not null && certificate.GetCertHashString(HashAlgorithmName.SHA256) == expectedServer.GetCertHashString(HashAlgorithmName.SHA256),
                ClientCertificates = client is null ? null : [client],
                LocalCertificateSelectionCallback = client is null ? null : (_, _, _, _, _) => client,
            };
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(15));
            await ssl.AuthenticateAsClientAsync(options, timeout.Token);
            return (tcp, ssl);
        }
        catch
        {
            tcp.Dispose();
            throw;
        }
    }
}
