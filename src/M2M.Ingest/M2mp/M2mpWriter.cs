using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace M2M.Ingest.M2mp;

/// <summary>
/// Writes M2MP frames to an <see cref="IBufferWriter{T}"/> (e.g. a <c>PipeWriter</c>), choosing the smallest SIZE width.
/// </summary>
public static class M2mpWriter
{
    /// <summary><c>01 LEN IDENT</c> (what a device sends; for simulators and tests).</summary>
    public static void WriteIdentification(IBufferWriter<byte> output, ReadOnlySpan<byte> ident)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(ident.Length, 255, nameof(ident));
        var span = output.GetSpan(2 + ident.Length);
        span[0] = 0x01;
        span[1] = (byte)ident.Length;
        ident.CopyTo(span[2..]);
        output.Advance(2 + ident.Length);
    }

    /// <summary><c>01 01</c> (accepted) or <c>01 00</c> (refused).</summary>
    public static void WriteIdentificationResult(IBufferWriter<byte> output, bool accepted) =>
        WriteTwoBytes(output, 0x01, accepted ? (byte)1 : (byte)0);

    /// <summary><c>02 N</c>: a device's ping, or the server's answer to it.</summary>
    public static void WriteDevicePing(IBufferWriter<byte> output, byte n) => WriteTwoBytes(output, 0x02, n);

    /// <summary><c>03 N</c>: the server's ping, or a device's answer to it.</summary>
    public static void WriteServerPing(IBufferWriter<byte> output, byte n) => WriteTwoBytes(output, 0x03, n);

    /// <summary><c>20 SIZE ID NAME</c>; the name is at most 254 bytes.</summary>
    public static void WriteChannelDefinition(IBufferWriter<byte> output, byte channel, ReadOnlySpan<byte> name)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(name.Length, 254, nameof(name));
        var span = output.GetSpan(3 + name.Length);
        span[0] = 0x20;
        span[1] = (byte)(1 + name.Length);
        span[2] = channel;
        name.CopyTo(span[3..]);
        output.Advance(3 + name.Length);
    }

    /// <summary><c>20 SIZE ID NAME</c> with the name encoded as UTF-8 (at most 254 bytes).</summary>
    public static void WriteChannelDefinition(IBufferWriter<byte> output, byte channel, string name)
    {
        Span<byte> utf8 = stackalloc byte[254];
        if (!Encoding.UTF8.TryGetBytes(name, utf8, out var length))
        {
            throw new ArgumentOutOfRangeException(nameof(name), "An M2MP channel name is at most 254 UTF-8 bytes.");
        }

        WriteChannelDefinition(output, channel, utf8[..length]);
    }

    /// <summary>Total length of a data frame with a payload of <paramref name="payloadLength"/> bytes (smallest width).</summary>
    public static long GetDataFrameLength(long payloadLength)
    {
        var size = 1 + payloadLength;
        return 1 + SizeWidth(size) + size;
    }

    /// <summary>
    /// <c>T SIZE ID PAYLOAD</c> with T = 0x21 / 0x41 / 0x61 for the smallest width that holds SIZE,
    /// or the given <paramref name="sizeWidth"/> (1, 2 or 4) when it is not 0.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The frame would exceed <paramref name="maxFrameSize"/>, or the width cannot hold SIZE.</exception>
    public static void WriteData(IBufferWriter<byte> output, byte channel, ReadOnlySpan<byte> payload, int sizeWidth = 0, int maxFrameSize = M2mpReader.DefaultMaxFrameSize)
    {
        var size = 1L + payload.Length;
        var width = CheckWidth(sizeWidth, size);
        var total = BeginSized(output, 0x21, width, size, channel, maxFrameSize, out var body);
        payload.CopyTo(body);
        output.Advance(total);
    }

    /// <summary>
    /// <c>T SIZE ID {ILEN ITEM}*</c> with T = 0x22 / 0x42 / 0x62 for the smallest width that holds SIZE and every ILEN,
    /// or the given <paramref name="sizeWidth"/> (1, 2 or 4) when it is not 0.
    /// </summary>
    public static void WriteArray(IBufferWriter<byte> output, byte channel, scoped ReadOnlySpan<ReadOnlyMemory<byte>> items, int sizeWidth = 0, int maxFrameSize = M2mpReader.DefaultMaxFrameSize)
    {
        long sum = 0;
        var longest = 0;
        foreach (var item in items)
        {
            sum += item.Length;
            longest = Math.Max(longest, item.Length);
        }

        var (width, size) = ArrayWidth(items.Length, sum, longest, sizeWidth);
        var total = BeginSized(output, 0x22, width, size, channel, maxFrameSize, out var span);
        var o = 0;
        foreach (var item in items)
        {
            WriteSize(span[o..], width, item.Length);
            o += width;
            item.Span.CopyTo(span[o..]);
            o += item.Length;
        }

        output.Advance(total);
    }

    /// <summary>An array of text items, each encoded as UTF-8 straight into the output (e.g. <c>["sg", "gps_period=15"]</c>).</summary>
    public static void WriteArray(IBufferWriter<byte> output, byte channel, scoped ReadOnlySpan<string> items, int maxFrameSize = M2mpReader.DefaultMaxFrameSize)
    {
        long sum = 0;
        var longest = 0;
        foreach (var item in items)
        {
            var length = Encoding.UTF8.GetByteCount(item);
            sum += length;
            longest = Math.Max(longest, length);
        }

        var (width, size) = ArrayWidth(items.Length, sum, longest, 0);
        var total = BeginSized(output, 0x22, width, size, channel, maxFrameSize, out var span);
        var o = 0;
        foreach (var item in items)
        {
            var length = Encoding.UTF8.GetBytes(item, span[(o + width)..]);
            WriteSize(span[o..], width, length);
            o += width + length;
        }

        output.Advance(total);
    }

    /// <summary>
    /// Checks the frame size, writes <c>T SIZE ID</c> of a sized frame and returns the frame's total
    /// length; <paramref name="body"/> is the space after the header, for the payload or the items.
    /// </summary>
    private static int BeginSized(IBufferWriter<byte> output, byte oneByteType, int width, long size, byte channel, int maxFrameSize, out Span<byte> body)
    {
        var total = 1 + width + size;
        CheckFrameSize(total, maxFrameSize);
        var span = output.GetSpan((int)total);
        span[0] = TypeFor(oneByteType, width);
        WriteSize(span[1..], width, size);
        span[1 + width] = channel;
        body = span[(2 + width)..(int)total];
        return (int)total;
    }

    private static (int Width, long Size) ArrayWidth(int count, long itemBytes, int longest, int requested)
    {
        if (requested != 0)
        {
            var size = 1 + ((long)count * requested) + itemBytes;
            CheckWidth(requested, Math.Max(size, longest));
            return (requested, size);
        }

        for (var width = 1; width <= 4; width *= 2)
        {
            var max = MaxOf(width);
            var size = 1 + ((long)count * width) + itemBytes;
            if (longest <= max && size <= max)
            {
                return (width, size);
            }
        }

        throw new ArgumentOutOfRangeException(nameof(itemBytes), "The array does not fit an M2MP frame.");
    }

    private static int SizeWidth(long size) => size <= byte.MaxValue ? 1 : size <= ushort.MaxValue ? 2 : 4;

    private static int CheckWidth(int requested, long size)
    {
        if (requested == 0)
        {
            return SizeWidth(size);
        }

        if (requested is not (1 or 2 or 4) || size > MaxOf(requested))
        {
            throw new ArgumentOutOfRangeException(nameof(requested), requested, $"A SIZE width of {requested} cannot hold {size}.");
        }

        return requested;
    }

    private static long MaxOf(int width) => width switch
    {
        1 => byte.MaxValue,
        2 => ushort.MaxValue,
        _ => uint.MaxValue,
    };

    private static void CheckFrameSize(long total, int maxFrameSize)
    {
        if (total > maxFrameSize)
        {
            throw new ArgumentOutOfRangeException(nameof(total), total, $"An M2MP frame of {total} bytes exceeds the maximum of {maxFrameSize}.");
        }
    }

    private static byte TypeFor(byte oneByteType, int width) => width switch
    {
        1 => oneByteType,
        2 => (byte)(oneByteType + 0x20),
        _ => (byte)(oneByteType + 0x40),
    };

    private static void WriteSize(Span<byte> destination, int width, long size)
    {
        switch (width)
        {
            case 1:
                destination[0] = (byte)size;
                break;
            case 2:
                BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)size);
                break;
            default:
                BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)size);
                break;
        }
    }

    private static void WriteTwoBytes(IBufferWriter<byte> output, byte type, byte value)
    {
        var span = output.GetSpan(2);
        span[0] = type;
        span[1] = value;
        output.Advance(2);
    }
}
