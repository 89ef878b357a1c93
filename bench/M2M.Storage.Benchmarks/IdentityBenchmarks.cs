using System.Text;
using BenchmarkDotNet.Attributes;
using M2M.Storage.TimeSeries;

namespace M2M.Storage.Benchmarks;

/// <summary>
/// The per-record cost the content discriminator adds to the write path: XXH3 over the UTF-8 data the
/// store encodes anyway (<see cref="RecordIdentity.Discriminator(ReadOnlySpan{byte})"/>), next to that
/// UTF-8 encoding itself, over 1 000 records of the insert workload (60–100 byte JSON). Times are per record.
/// </summary>
[MemoryDiagnoser]
public class IdentityBenchmarks
{
    private const int Records = 1_000;

    private readonly string[] _data = new string[Records];
    private readonly byte[][] _utf8 = new byte[Records][];
    private readonly byte[] _buffer = new byte[4096];

    [GlobalSetup]
    public void Setup()
    {
        for (var i = 0; i < Records; i++)
        {
            _data[i] = Workload.Record(i * 7L).Data;
            _utf8[i] = Encoding.UTF8.GetBytes(_data[i]);
        }
    }

    /// <summary>What the write path already did per record before discriminators: encode the data to UTF-8.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Records)]
    public int EncodeUtf8()
    {
        var total = 0;
        foreach (var data in _data)
        {
            total += Encoding.UTF8.GetBytes(data, _buffer);
        }
        return total;
    }

    /// <summary>What it adds: the hash of the encoded bytes.</summary>
    [Benchmark(OperationsPerInvoke = Records)]
    public long HashEncoded()
    {
        long total = 0;
        foreach (var bytes in _utf8)
        {
            total ^= RecordIdentity.Discriminator(bytes);
        }
        return total;
    }

    /// <summary>The convenience overload for a string (encodes on the stack first): used off the hot path.</summary>
    [Benchmark(OperationsPerInvoke = Records)]
    public long HashString()
    {
        long total = 0;
        foreach (var data in _data)
        {
            total ^= RecordIdentity.Discriminator(data);
        }
        return total;
    }
}
