using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace M2M.Fuzz.Live;

/// <summary>
/// Device sessions for the live fuzzer: mostly well-formed ones built from the spec's commands and
/// frames (so that the server gets past identification into every command), with hostile fields
/// (control characters, huge numbers, long tokens, invalid UTF-8, bad sizes), byte-level mutations
/// (<see cref="SelfDriving.Mutate"/>), truncations and plain random bytes mixed in.
/// </summary>
internal static class LiveInputs
{
    private static readonly string[] AlipLines =
    [
        "S S gps_period 60", "D L 48.85661,2.35222,42,35", "D L 7", "E 1700000000 T 21.5", "E 231114221321 V 12.1",
        "E 20231114221322 A3 512", "J 20231114221320 can {\"rpm\":1800,\"fuel\":41.5}", "A 1", "T", "B 1", "S GA", "S G",
        "S G gps_period", "S U gps_period", "S A gps_period 60", "C A 3", "C L", "F N fw.bin", "F S", "F G 0 4096",
        "DB LAST 5", "D G 231114221320,48.8,2.3", "D A12 3.3", "D DI2 1", "D LS:door open", "D echo hi", "D SMS hello world",
        "D VER 1.2.3", "D custom \"quoted\" text", "D F 41.5", "D E on", "QUIT", "ID imei:35412345678",
    ];

    private static readonly string[] Hostile =
    [
        "\r", "\0", "\u0001", "\u007f", "\u001b[2J", "\t", " ", "  ", "-1", "-", "+1", "99999999999999999999", "1e309", "NaN",
        "0x10", "{", "}", "\"", "\\", "=", ",", ",,,", "%s%n", "../../etc/passwd", "é", "\uFFFD", "_server", "_set", "sen:",
        "LS:", "DI", "A", "imei:", "2147483648", "4294967296", "-9223372036854775809", "00000000000000", "20231345000000",
    ];

    private static readonly string[] Channels =
    [
        "sen:loc", "echo", "echo:x", "_special", "_set", "_sta", "_cmd", "sen:temp", "custom", "_server", "sen:", "", "x y",
    ];

    /// <summary>One ALIP session: usually an identification, then lines, then a barrier.</summary>
    public static byte[] Alip(Random random, IReadOnlyList<byte[]> corpus)
    {
        var text = new StringBuilder();
        if (random.Next(100) < 85)
        {
            text.Append("ID ").Append(Ident(random, alip: true)).Append('\n');
        }
        var lines = 1 + random.Next(40);
        for (var i = 0; i < lines; i++)
        {
            var line = AlipLines[random.Next(AlipLines.Length)];
            text.Append(random.Next(100) < 55 ? MutateLine(random, line) : line).Append('\n');
        }
        if (random.Next(100) < 70)
        {
            text.Append("A ").Append(random.Next(1000).ToString(CultureInfo.InvariantCulture)).Append('\n');
        }
        var bytes = Encoding.UTF8.GetBytes(text.ToString());
        return Finish(random, bytes, corpus);
    }

    /// <summary>One M2MP session: usually an identification, then frames, then a ping (the barrier).</summary>
    public static byte[] M2mp(Random random, IReadOnlyList<byte[]> corpus)
    {
        var output = new List<byte>();
        if (random.Next(100) < 85)
        {
            var ident = Encoding.ASCII.GetBytes(Ident(random, alip: false));
            output.Add(0x01);
            output.Add((byte)ident.Length);
            output.AddRange(ident);
        }
        var defined = new List<byte>();
        var frames = 1 + random.Next(30);
        for (var i = 0; i < frames; i++)
        {
            var frame = Frame(random, defined);
            if (random.Next(100) < 25)
            {
                frame = SelfDriving.Mutate(random, frame, corpus);
            }
            output.AddRange(frame);
        }
        if (random.Next(100) < 70)
        {
            output.Add(0x02);
            output.Add((byte)random.Next(256));
        }
        return Finish(random, [.. output], corpus);
    }

    private static byte[] Finish(Random random, byte[] session, IReadOnlyList<byte[]> corpus)
    {
        switch (random.Next(100))
        {
            case < 10:
                return SelfDriving.Mutate(random, session, corpus);
            case < 15:
                return session[..random.Next(session.Length + 1)];
            case < 18:
                var noise = new byte[random.Next(1, 4096)];
                random.NextBytes(noise);
                return noise;
            default:
                return session;
        }
    }

    private static string Ident(Random random, bool alip)
    {
        var digits = string.Concat(Enumerable.Range(0, 15).Select(_ => (char)('0' + random.Next(10))));
        if (random.Next(100) < 90)
        {
            return "imei:" + digits;
        }
        // Rarely a hostile one: too long, control characters, spaces, empty.
        return random.Next(4) switch
        {
            0 => new string('a', alip ? 300 : 255),
            1 => "imei:\u0001" + digits,
            2 => "im ei:" + digits,
            _ => "",
        };
    }

    private static string MutateLine(Random random, string line)
    {
        var tokens = line.Split(' ').ToList();
        switch (random.Next(8))
        {
            case 0:
                tokens[random.Next(tokens.Count)] = Hostile[random.Next(Hostile.Length)];
                break;
            case 1:
                var at = random.Next(tokens.Count);
                var token = tokens[at];
                var pos = random.Next(token.Length + 1);
                tokens[at] = token[..pos] + Hostile[random.Next(Hostile.Length)] + token[pos..];
                break;
            case 2:
                tokens[random.Next(tokens.Count)] = new string((char)('a' + random.Next(26)), random.Next(100, 6000));
                break;
            case 3:
                tokens.Insert(random.Next(tokens.Count + 1), Hostile[random.Next(Hostile.Length)]);
                break;
            case 4 when tokens.Count > 1:
                tokens.RemoveAt(random.Next(1, tokens.Count));
                break;
            case 5:
                var junk = new char[random.Next(1, 40)];
                for (var i = 0; i < junk.Length; i++)
                {
                    junk[i] = (char)random.Next(0, 256);
                }
                tokens[random.Next(tokens.Count)] = new string(junk);
                break;
            case 6:
                return line[..random.Next(line.Length + 1)];
            default:
                tokens[random.Next(tokens.Count)] = random.Next(3) switch
                {
                    0 => long.MaxValue.ToString(CultureInfo.InvariantCulture),
                    1 => (-random.Next(int.MaxValue)).ToString(CultureInfo.InvariantCulture),
                    _ => "1" + new string('0', random.Next(10, 40)),
                };
                break;
        }
        return string.Join(' ', tokens);
    }

    private static byte[] Frame(Random random, List<byte> defined)
    {
        switch (random.Next(12))
        {
            case 0:
            {
                // Channel definition.
                var id = (byte)random.Next(8);
                var name = Encoding.UTF8.GetBytes(random.Next(10) == 0 ? Hostile[random.Next(Hostile.Length)] : Channels[random.Next(Channels.Length)]);
                defined.Add(id);
                return [0x20, (byte)(1 + name.Length), id, .. name];
            }
            case 1:
                return [0x02, (byte)random.Next(256)];
            case 2:
                return [0x03, (byte)random.Next(256)];
            case 3:
            {
                // A huge or zero SIZE, or an unknown type.
                return random.Next(4) switch
                {
                    0 => [0x61, 0xFF, 0xFF, 0xFF, 0xFF, 0x00],
                    1 => [0x21, 0x00],
                    2 => [(byte)random.Next(0x04, 0x20), 0x00],
                    _ => [0x23, 0x02, 0xAA, 0xBB],
                };
            }
            case 4 or 5 or 6:
                return Data(random, Channel(random, defined), Payload(random));
            default:
                return Array(random, Channel(random, defined), Items(random));
        }
    }

    private static byte Channel(Random random, List<byte> defined) =>
        defined.Count > 0 && random.Next(5) != 0 ? defined[random.Next(defined.Count)] : (byte)random.Next(256);

    private static byte[] Payload(Random random) => random.Next(8) switch
    {
        0 => Location(random),
        1 => "disconnect_me"u8.ToArray(),
        2 => "disconnect_us"u8.ToArray(),
        3 => Encoding.UTF8.GetBytes(Hostile[random.Next(Hostile.Length)]),
        4 => RandomBytes(random, random.Next(0, 2000)),
        _ => Encoding.UTF8.GetBytes(random.Next(1000).ToString(CultureInfo.InvariantCulture)),
    };

    private static byte[] Location(Random random)
    {
        var bytes = new byte[random.Next(0, 18)];
        if (bytes.Length >= 4)
        {
            BinaryPrimitives.WriteUInt32BigEndian(bytes, (uint)(1_700_000_000 + random.Next(1_000_000)));
        }
        for (var i = 4; i < bytes.Length; i++)
        {
            bytes[i] = (byte)random.Next(256);
        }
        return bytes;
    }

    private static byte[][] Items(Random random)
    {
        var first = random.Next(6) switch
        {
            0 => "g",
            1 => "sg",
            2 => "ga",
            3 => "u",
            4 => "a",
            _ => Hostile[random.Next(Hostile.Length)],
        };
        var items = new List<byte[]> { Encoding.UTF8.GetBytes(first) };
        var count = random.Next(0, 6);
        for (var i = 0; i < count; i++)
        {
            items.Add(random.Next(5) switch
            {
                0 => Encoding.UTF8.GetBytes($"name{random.Next(5)}={random.Next(100)}"),
                1 => Encoding.UTF8.GetBytes("cap=" + Hostile[random.Next(Hostile.Length)]),
                2 => Encoding.UTF8.GetBytes(Hostile[random.Next(Hostile.Length)] + "=" + Hostile[random.Next(Hostile.Length)]),
                3 => BitConverter.GetBytes(random.Next()),
                _ => RandomBytes(random, random.Next(0, 64)),
            });
        }
        return [.. items];
    }

    private static byte[] Data(Random random, byte channel, byte[] payload)
    {
        var width = Width(random, 1 + payload.Length);
        var frame = new List<byte> { (byte)(width == 1 ? 0x21 : width == 2 ? 0x41 : 0x61) };
        AddSize(frame, width, 1 + payload.Length);
        frame.Add(channel);
        frame.AddRange(payload);
        return [.. frame];
    }

    private static byte[] Array(Random random, byte channel, byte[][] items)
    {
        var body = 1 + items.Sum(i => i.Length);
        var width = Width(random, body + (items.Length * 4));
        var frame = new List<byte> { (byte)(width == 1 ? 0x22 : width == 2 ? 0x42 : 0x62) };
        AddSize(frame, width, 1 + items.Sum(i => width + i.Length));
        frame.Add(channel);
        foreach (var item in items)
        {
            AddSize(frame, width, item.Length);
            frame.AddRange(item);
        }
        return [.. frame];
    }

    private static int Width(Random random, int size) =>
        size > 0xFFFF ? 4 : size > 0xFF ? (random.Next(2) == 0 ? 2 : 4) : random.Next(3) switch { 0 => 1, 1 => 2, _ => 4 };

    private static void AddSize(List<byte> frame, int width, int size)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, (uint)size);
        frame.AddRange(bytes[(4 - width)..].ToArray());
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }
}
