using System.Buffers;
using System.Buffers.Binary;
using M2M.Ingest.M2mp;

namespace M2M.Ingest.Tests;

/// <summary>What a frame should decode to, independent of the reader.</summary>
internal sealed record M2mpFrameModel(M2mpFrameKind Kind, byte Value, byte Channel, byte[] Payload, byte[][] Items)
{
    public void AssertMatches(in M2mpFrame frame)
    {
        Assert.Equal(Kind, frame.Kind);
        switch (Kind)
        {
            case M2mpFrameKind.DevicePing or M2mpFrameKind.ServerPing or M2mpFrameKind.IdentificationResult:
                Assert.Equal(Value, frame.Value);
                break;
            case M2mpFrameKind.Array:
                Assert.Equal(Channel, frame.Channel);
                var i = 0;
                foreach (var item in frame.GetItems())
                {
                    Assert.Equal(Items[i++], item.ToArray());
                }

                Assert.Equal(Items.Length, i);
                Assert.Equal(Items.Length, frame.ItemCount);
                break;
            case M2mpFrameKind.Identification or M2mpFrameKind.Skipped:
                Assert.Equal(Payload, frame.Payload.ToArray());
                break;
            default:
                Assert.Equal(Channel, frame.Channel);
                Assert.Equal(Payload, frame.Payload.ToArray());
                break;
        }
    }
}

/// <summary>Seeded random M2MP frames: their models and their bytes (written by <see cref="M2mpWriter"/>, or by hand for skipped types).</summary>
internal static class M2mpRandomFrames
{
    public static (List<M2mpFrameModel> Models, byte[] Bytes) Generate(Random random, int count, bool includeLarge = true)
    {
        var models = new List<M2mpFrameModel>();
        var output = new ArrayBufferWriter<byte>();
        for (var i = 0; i < count; i++)
        {
            models.Add(WriteOne(random, output, includeLarge));
        }

        return (models, output.WrittenSpan.ToArray());
    }

    private static M2mpFrameModel WriteOne(Random random, ArrayBufferWriter<byte> output, bool includeLarge)
    {
        var channel = (byte)random.Next(256);
        switch (random.Next(8))
        {
            case 0:
                var ident = RandomBytes(random, random.Next(256));
                M2mpWriter.WriteIdentification(output, ident);
                return new(M2mpFrameKind.Identification, 0, 0, ident, []);
            case 1:
                var n = (byte)random.Next(256);
                M2mpWriter.WriteDevicePing(output, n);
                return new(M2mpFrameKind.DevicePing, n, 0, [], []);
            case 2:
                var m = (byte)random.Next(256);
                M2mpWriter.WriteServerPing(output, m);
                return new(M2mpFrameKind.ServerPing, m, 0, [], []);
            case 3:
                var name = RandomBytes(random, random.Next(255));
                M2mpWriter.WriteChannelDefinition(output, channel, name);
                return new(M2mpFrameKind.ChannelDefinition, 0, channel, name, []);
            case 4 or 5:
                var payload = RandomBytes(random, PayloadLength(random, includeLarge));
                M2mpWriter.WriteData(output, channel, payload, sizeWidth: WidthFor(random, 1L + payload.Length));
                return new(M2mpFrameKind.Data, 0, channel, payload, []);
            case 6:
                var items = new byte[random.Next(12)][];
                for (var i = 0; i < items.Length; i++)
                {
                    items[i] = RandomBytes(random, random.Next(4) == 0 ? PayloadLength(random, includeLarge) : random.Next(8));
                }

                var memories = items.Select(item => (ReadOnlyMemory<byte>)item).ToArray();
                M2mpWriter.WriteArray(output, channel, memories);
                return new(M2mpFrameKind.Array, 0, channel, [], items);
            default:
                // An unknown sized type, which a reader skips by its size.
                var body = RandomBytes(random, random.Next(40));
                var width = (random.Next(3)) switch { 0 => 1, 1 => 2, _ => 4 };
                var type = (byte)(width switch { 1 => 0x23, 2 => 0x43, _ => 0x63 } + random.Next(30));
                var span = output.GetSpan(1 + width + body.Length);
                span[0] = type;
                switch (width)
                {
                    case 1: span[1] = (byte)body.Length; break;
                    case 2: BinaryPrimitives.WriteUInt16BigEndian(span[1..], (ushort)body.Length); break;
                    default: BinaryPrimitives.WriteUInt32BigEndian(span[1..], (uint)body.Length); break;
                }

                body.CopyTo(span[(1 + width)..]);
                output.Advance(1 + width + body.Length);
                return new(M2mpFrameKind.Skipped, 0, 0, body, []);
        }
    }

    private static int PayloadLength(Random random, bool includeLarge) => random.Next(10) switch
    {
        < 6 => random.Next(20),
        < 9 => random.Next(200, 400),
        _ => includeLarge ? random.Next(65530, 70000) : random.Next(250, 260),
    };

    /// <summary>Mostly the smallest width (0), sometimes a wider one: receivers accept any width that holds SIZE.</summary>
    private static int WidthFor(Random random, long size) => random.Next(4) switch
    {
        0 when size <= ushort.MaxValue => 2,
        1 => 4,
        _ => 0,
    };

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }
}
