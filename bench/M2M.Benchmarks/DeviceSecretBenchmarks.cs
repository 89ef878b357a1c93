using System.Security.Cryptography;
using System.Text;
using BenchmarkDotNet.Attributes;
using M2M.Storage.Entities;

namespace M2M.Benchmarks;

/// <summary>
/// The cost of checking a device secret at identification (docs/device-authentication.md): the
/// salted HMAC-SHA256 the platform stores (<see cref="DeviceSecrets.Verify(ReadOnlySpan{byte}, string?)"/>,
/// parsing of the stored form included) against a password hash such as ASP.NET Core Identity's
/// (PBKDF2-HMAC-SHA512, 100,000 iterations), which is what a human password needs and what a
/// reconnect storm of 10,000 devices would pay 10,000 times. Expected allocation of Verify: the
/// split of the stored form (a few small strings).
/// </summary>
[MemoryDiagnoser]
public class DeviceSecretBenchmarks
{
    private readonly byte[] _secret = Encoding.ASCII.GetBytes(DeviceSecrets.Generate());
    private readonly byte[] _salt = RandomNumberGenerator.GetBytes(16);
    private string _stored = "";

    [GlobalSetup]
    public void Setup() => _stored = DeviceSecrets.Hash(Encoding.ASCII.GetString(_secret));

    [Benchmark(Baseline = true)]
    public bool HmacSha256Verify() => DeviceSecrets.Verify(_secret, _stored);

    [Benchmark]
    public byte[] Pbkdf2Sha512Iterations100k() => Rfc2898DeriveBytes.Pbkdf2(_secret, _salt, 100_000, HashAlgorithmName.SHA512, 32);
}
