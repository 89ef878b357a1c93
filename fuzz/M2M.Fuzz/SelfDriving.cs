using System.Diagnostics;
using M2M.Ingest.M2mp;
using SharpFuzz;

namespace M2M.Fuzz;

/// <summary>
/// A coverage-blind fuzzer for machines without AFL or libFuzzer: mutates corpus inputs at random (bit flips,
/// interesting bytes, inserted/removed/duplicated ranges, splices, protocol tokens) and runs the target on each.
/// An exception other than the protocol's own, or an <see cref="InvariantViolationException"/>, is a finding,
/// saved under the findings directory.
/// </summary>
internal static class SelfDriving
{
    private static readonly byte[][] Tokens =
    [
        [0x01], [0x02], [0x03], [0x20], [0x21], [0x22], [0x41], [0x42], [0x61], [0x62], [0x80], [0xFF],
        [0xFF, 0xFF], [0xFF, 0xFF, 0xFF, 0xFF], [0x00, 0x10, 0x00, 0x00],
        "\n"u8.ToArray(), "\r\n"u8.ToArray(), " "u8.ToArray(), ","u8.ToArray(),
        "ID imei:35412345678\n"u8.ToArray(), "D L "u8.ToArray(), "E 1700000000 T "u8.ToArray(),
        "J 20231114221320 can "u8.ToArray(), "F G 0 4096\n"u8.ToArray(), "LS:"u8.ToArray(), "DI12"u8.ToArray(),
        "sen:loc"u8.ToArray(), [0xC3], [0xE2, 0x82], [0xF0, 0x9F, 0x98], [0x00],
    ];

    public static (long Executions, long Findings, TimeSpan Elapsed) Run(
        ReadOnlySpanAction target, string name, string[] corpusFiles, string findingsDirectory, long iterations, TimeSpan duration, int seed)
    {
        var random = new Random(seed);
        var pool = corpusFiles.Select(File.ReadAllBytes).ToList();
        if (pool.Count == 0)
        {
            pool.Add([]);
        }

        var seeds = pool.Count;
        var stopwatch = Stopwatch.StartNew();
        long executions = 0;
        long findings = 0;
        var reported = new HashSet<string>();
        while (executions < iterations && stopwatch.Elapsed < duration)
        {
            var input = Mutate(random, pool[random.Next(pool.Count)], pool);
            try
            {
                target(input);
            }
            catch (Exception e) when (e is not M2mpProtocolException)
            {
                findings++;
                var signature = e.GetType().Name + ":" + e.StackTrace?.Split('\n').FirstOrDefault()?.Trim();
                Directory.CreateDirectory(findingsDirectory);
                var file = Path.Combine(findingsDirectory, $"crash-{Convert.ToHexStringLower(System.Security.Cryptography.SHA1.HashData(input))}");
                File.WriteAllBytes(file, input);
                if (reported.Add(signature))
                {
                    Console.Error.WriteLine($"{name}: finding {file}: {e}");
                }
            }

            executions++;

            // Keep some mutants as new starting points (no coverage feedback: a bounded, refreshed pool).
            if (input.Length <= 8192 && random.Next(16) == 0)
            {
                if (pool.Count < seeds + 256)
                {
                    pool.Add(input);
                }
                else
                {
                    pool[seeds + random.Next(256)] = input;
                }
            }
        }

        return (executions, findings, stopwatch.Elapsed);
    }

    internal static byte[] Mutate(Random random, byte[] original, IReadOnlyList<byte[]> pool)
    {
        var data = new List<byte>(original);
        var rounds = 1 + random.Next(6);
        for (var r = 0; r < rounds; r++)
        {
            switch (random.Next(9))
            {
                case 0 when data.Count > 0:
                    var bit = random.Next(data.Count * 8);
                    data[bit / 8] ^= (byte)(1 << (bit % 8));
                    break;
                case 1 when data.Count > 0:
                    data[random.Next(data.Count)] = (byte)random.Next(256);
                    break;
                case 2 when data.Count > 0:
                    data[random.Next(data.Count)] = new byte[] { 0x00, 0x01, 0x7F, 0x80, 0xFF, (byte)'\n', (byte)' ' }[random.Next(7)];
                    break;
                case 3:
                    data.InsertRange(random.Next(data.Count + 1), Tokens[random.Next(Tokens.Length)]);
                    break;
                case 4 when data.Count > 0:
                    var start = random.Next(data.Count);
                    data.RemoveRange(start, random.Next(1, Math.Min(16, data.Count - start) + 1));
                    break;
                case 5 when data.Count > 0:
                    var from = random.Next(data.Count);
                    var length = random.Next(1, Math.Min(64, data.Count - from) + 1);
                    data.InsertRange(random.Next(data.Count + 1), data.GetRange(from, length));
                    break;
                case 6:
                    var other = pool[random.Next(pool.Count)];
                    if (other.Length > 0)
                    {
                        var at = random.Next(other.Length);
                        data.InsertRange(random.Next(data.Count + 1), other.AsSpan(at, Math.Min(other.Length - at, 128)).ToArray());
                    }

                    break;
                case 7 when data.Count > 0:
                    var keep = random.Next(data.Count);
                    data.RemoveRange(keep, data.Count - keep);
                    break;
                default:
                    var noise = new byte[random.Next(1, 9)];
                    random.NextBytes(noise);
                    data.InsertRange(random.Next(data.Count + 1), noise);
                    break;
            }
        }

        return data.Count > 65536 ? data.GetRange(0, 65536).ToArray() : data.ToArray();
    }
}
