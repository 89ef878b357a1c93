using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;

namespace M2M.Ingest.Authentication;

/// <summary>
/// The certificates of the TLS listeners: the server certificate (PFX, or PEM certificate + key)
/// and the CA certificates that issue device certificates. Loaded and checked at start (a missing
/// file, a wrong password or a certificate without its private key stops the start with a message
/// naming the setting); then the files are checked every <see cref="IngestTlsOptions.ReloadInterval"/>
/// and reloaded when they change — new handshakes use the new certificate, a file that fails to load
/// keeps the previous one (logged, counted).
/// </summary>
internal sealed class TlsCertificates : IDisposable
{
    private const string ClientAuthentication = "1.3.6.1.5.5.7.3.2";

    private readonly IngestTlsOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Lock _reloadLock = new();
    private SslServerAuthenticationOptions _serverOptions;
    private X509Certificate2Collection _clientCas;
    private DateTime[] _stamps;
    private ITimer? _timer;

    public TlsCertificates(IngestTlsOptions options, ILogger logger, TimeProvider time)
    {
        _options = options;
        _logger = logger;
        _time = time;
        _stamps = Stamps();
        (_serverOptions, _clientCas) = Load();
    }

    /// <summary>The options of the next handshake (the current certificate).</summary>
    public SslServerAuthenticationOptions ServerOptions => Volatile.Read(ref _serverOptions);

    /// <summary>The server certificate now in use.</summary>
    public X509Certificate2 ServerCertificate => ServerOptions.ServerCertificateContext!.TargetCertificate;

    /// <summary>Starts watching the files.</summary>
    public void StartReloading()
    {
        if (_options.ReloadInterval > TimeSpan.Zero)
        {
            _timer = _time.CreateTimer(_ => ReloadIfChanged(), null, _options.ReloadInterval, _options.ReloadInterval);
        }
    }

    /// <summary>Reloads the files when one of them changed since the last load; <c>true</c> when a new certificate is in use.</summary>
    public bool ReloadIfChanged()
    {
        lock (_reloadLock)
        {
            var stamps = Stamps();
            if (stamps.SequenceEqual(_stamps))
            {
                return false;
            }
            try
            {
                var (server, cas) = Load();
                Volatile.Write(ref _clientCas, cas);
                Volatile.Write(ref _serverOptions, server);
                _stamps = stamps;
                AuthMetrics.TlsReloads.Add(1, new KeyValuePair<string, object?>("result", "reloaded"));
                _logger.LogInformation("TLS certificate reloaded: {Subject}, thumbprint {Thumbprint}, valid until {NotAfter:O}",
                    ServerCertificate.Subject, ServerCertificate.Thumbprint, ServerCertificate.NotAfter.ToUniversalTime());
                return true;
            }
            catch (Exception e) when (e is InvalidOperationException or CryptographicException or IOException)
            {
                // A half-written file (the operator is replacing it) or a bad one: keep serving the current certificate.
                _stamps = stamps;
                AuthMetrics.TlsReloads.Add(1, new KeyValuePair<string, object?>("result", "failed"));
                _logger.LogError("TLS certificate files changed but cannot be loaded; the previous certificate stays in use: {Error}", e.Message);
                return false;
            }
        }
    }

    /// <summary>
    /// Whether <paramref name="certificate"/> chains to one of the configured client CAs (custom root
    /// trust: the system store is not used), is in its validity period and, when it names purposes,
    /// allows client authentication. Revocation is not checked (devices' CAs rarely publish CRLs;
    /// revoke a device by removing it or its thumbprint, see docs/device-authentication.md).
    /// </summary>
    public bool IsIssuedByClientCa(X509Certificate2 certificate)
    {
        var cas = Volatile.Read(ref _clientCas);
        if (cas.Count == 0)
        {
            return false;
        }
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(cas);
        chain.ChainPolicy.ExtraStore.AddRange(cas);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid(ClientAuthentication));
        chain.ChainPolicy.VerificationTime = _time.GetUtcNow().UtcDateTime;
        return chain.Build(certificate);
    }

    private DateTime[] Stamps() =>
        [.. new[] { _options.CertificatePath, _options.KeyPath, _options.ClientCaPath }.Select(p => p is not null && File.Exists(p) ? File.GetLastWriteTimeUtc(p) : DateTime.MinValue)];

    private (SslServerAuthenticationOptions Server, X509Certificate2Collection ClientCas) Load()
    {
        var (leaf, intermediates) = LoadServerCertificate();
        var now = _time.GetUtcNow().UtcDateTime;
        if (leaf.NotAfter.ToUniversalTime() < now || leaf.NotBefore.ToUniversalTime() > now)
        {
            _logger.LogError("The TLS certificate {Subject} is not valid now (valid {NotBefore:O} to {NotAfter:O}): devices will refuse it",
                leaf.Subject, leaf.NotBefore.ToUniversalTime(), leaf.NotAfter.ToUniversalTime());
        }
        else if (leaf.NotAfter.ToUniversalTime() < now.AddDays(30))
        {
            _logger.LogWarning("The TLS certificate {Subject} expires on {NotAfter:O}", leaf.Subject, leaf.NotAfter.ToUniversalTime());
        }
        var cas = LoadClientCas();
        var mode = _options.ClientCertificates;
        var server = new SslServerAuthenticationOptions
        {
            ServerCertificateContext = SslStreamCertificateContext.Create(leaf, intermediates, offline: true),
            ClientCertificateRequired = mode != ClientCertificateMode.None,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            // Any certificate passes the handshake: a self-signed one may be pinned to a device, and
            // which device a certificate authenticates is decided at identification, not here.
            RemoteCertificateValidationCallback = mode == ClientCertificateMode.Require
                ? static (_, certificate, _, _) => certificate is not null
                : static (_, _, _, _) => true,
        };
        return (server, cas);
    }

    private (X509Certificate2 Leaf, X509Certificate2Collection Intermediates) LoadServerCertificate()
    {
        var path = _options.CertificatePath;
        if (string.IsNullOrWhiteSpace(path))
        {
            throw new InvalidOperationException("M2M:Ingest:Tls:Enabled is true but M2M:Ingest:Tls:CertificatePath is not set (a PFX file, or a PEM certificate with M2M:Ingest:Tls:KeyPath).");
        }
        if (!File.Exists(path))
        {
            throw new InvalidOperationException($"M2M:Ingest:Tls:CertificatePath: the file '{path}' does not exist.");
        }
        if (_options.KeyPath is { } keyPath && !File.Exists(keyPath))
        {
            throw new InvalidOperationException($"M2M:Ingest:Tls:KeyPath: the file '{keyPath}' does not exist.");
        }

        X509Certificate2 leaf;
        var intermediates = new X509Certificate2Collection();
        try
        {
            if (_options.KeyPath is not null || IsPem(path))
            {
                var pemKey = _options.KeyPath ?? path;
                leaf = string.IsNullOrEmpty(_options.CertificatePassword)
                    ? X509Certificate2.CreateFromPemFile(path, pemKey)
                    : X509Certificate2.CreateFromEncryptedPemFile(path, _options.CertificatePassword, pemKey);
                var all = new X509Certificate2Collection();
                all.ImportFromPemFile(path);
                foreach (var certificate in all)
                {
                    if (certificate.Thumbprint != leaf.Thumbprint)
                    {
                        intermediates.Add(certificate);
                    }
                }
            }
            else
            {
                var all = X509CertificateLoader.LoadPkcs12CollectionFromFile(path, _options.CertificatePassword);
                leaf = all.FirstOrDefault(c => c.HasPrivateKey)
                    ?? throw new InvalidOperationException($"M2M:Ingest:Tls:CertificatePath: '{path}' holds no certificate with its private key.");
                foreach (var certificate in all)
                {
                    if (!ReferenceEquals(certificate, leaf))
                    {
                        intermediates.Add(certificate);
                    }
                }
            }
        }
        catch (CryptographicException e)
        {
            throw new InvalidOperationException($"M2M:Ingest:Tls:CertificatePath: '{path}' cannot be loaded (wrong password, or not a PFX / PEM certificate with its key): {e.Message}", e);
        }
        if (!leaf.HasPrivateKey)
        {
            throw new InvalidOperationException($"M2M:Ingest:Tls:CertificatePath: the certificate in '{path}' comes without its private key.");
        }
        return (leaf, intermediates);
    }

    private X509Certificate2Collection LoadClientCas()
    {
        var cas = new X509Certificate2Collection();
        if (string.IsNullOrWhiteSpace(_options.ClientCaPath))
        {
            return cas;
        }
        if (!File.Exists(_options.ClientCaPath))
        {
            throw new InvalidOperationException($"M2M:Ingest:Tls:ClientCaPath: the file '{_options.ClientCaPath}' does not exist.");
        }
        try
        {
            cas.ImportFromPemFile(_options.ClientCaPath);
        }
        catch (CryptographicException e)
        {
            throw new InvalidOperationException($"M2M:Ingest:Tls:ClientCaPath: '{_options.ClientCaPath}' is not a PEM file of certificates: {e.Message}", e);
        }
        if (cas.Count == 0)
        {
            throw new InvalidOperationException($"M2M:Ingest:Tls:ClientCaPath: '{_options.ClientCaPath}' holds no certificate.");
        }
        return cas;
    }

    /// <summary>A PKCS#12 file is DER (it starts with a SEQUENCE, 0x30); anything else is read as PEM text.</summary>
    private static bool IsPem(string path)
    {
        using var file = File.OpenRead(path);
        return file.ReadByte() != 0x30;
    }

    public void Dispose() => _timer?.Dispose();
}
