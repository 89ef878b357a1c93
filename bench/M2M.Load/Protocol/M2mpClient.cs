using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace M2M.Load.Protocol;

/// <summary>A malformed frame or line from the server: the device counts it and reconnects.</summary>
public sealed class ClientProtocolException(string message) : Exception(message)
{
    [DoesNotReturn]
    public static void Throw(string message) => throw new ClientProtocolException(message);
}

/// <summary>One server → device M2MP frame; <see cref="Payload"/> points into the receive buffer.</summary>
public readonly ref struct M2mpServerFrame
{
    public M2mpServerFrame(byte type, byte channel, ReadOnlySpan<byte> payload, int width)
    {
        Type = type;
        Channel = channel;
        Payload = payload;
        Width = width;
    }

    /// <summary>The frame type byte.</summary>
    public byte Type { get; }

    /// <summary>The channel id of a sized frame; the value byte (OK, N) of a control frame.</summary>
    public byte Channel { get; }

    /// <summary>Data or array items of a sized frame; the channel name of a definition.</summary>
    public ReadOnlySpan<byte> Payload { get; }

    /// <summary>Width of SIZE (and of every item length of an array): 1, 2 or 4.</summary>
    public int Width { get; }

    public bool IsArray => Type is M2mpClient.Array1 or M2mpClient.Array2 or M2mpClient.Array4;

    public bool IsData => Type is M2mpClient.Data1 or M2mpClient.Data2 or M2mpClient.Data4;
}

/// <summary>
/// The device side of M2MP (spec/m2mp.md): writes device frames into a caller's buffer without
/// allocating and reads server frames from a contiguous buffer.
/// </summary>
public static class M2mpClient
{
    public const byte Ident = 0x01;
    public const byte Ping = 0x02;
    public const byte ServerPing = 0x03;
    public const byte ChannelDefinition = 0x20;
    public const byte Data1 = 0x21;
    public const byte Array1 = 0x22;
    public const byte Data2 = 0x41;
    public const byte Array2 = 0x42;
    public const byte Data4 = 0x61;
    public const byte Array4 = 0x62;

    /// <summary>Frames above this size are refused, as the server does.</summary>
    public const int MaxFrameSize = 1024 * 1024;

    /// <summary>Size of a location frame written by <see cref="WriteLocation"/>.</summary>
    public const int LocationFrameSize = 19;

    /// <summary><c>01 LEN IDENT</c></summary>
    public static int WriteIdent(Span<byte> destination, string ident)
    {
        var length = Encoding.ASCII.GetByteCount(ident);
        if (length is < 1 or > 255)
        {
            throw new ArgumentException("An M2MP ident is 1 to 255 bytes.", nameof(ident));
        }
        destination[0] = Ident;
        destination[1] = (byte)length;
        return 2 + Encoding.ASCII.GetBytes(ident, destination[2..]);
    }

    /// <summary><c>T N</c>: a device ping (<c>02</c>) or the answer to a server ping (<c>03</c>).</summary>
    public static int WriteControl(Span<byte> destination, byte type, byte value)
    {
        destination[0] = type;
        destination[1] = value;
        return 2;
    }

    /// <summary><c>20 SIZE ID NAME</c></summary>
    public static int WriteChannelDefinition(Span<byte> destination, byte id, string name)
    {
        var length = Encoding.ASCII.GetByteCount(name);
        if (length is < 1 or > 254)
        {
            throw new ArgumentException("A channel name is 1 to 254 bytes.", nameof(name));
        }
        destination[0] = ChannelDefinition;
        destination[1] = (byte)(length + 1);
        destination[2] = id;
        return 3 + Encoding.ASCII.GetBytes(name, destination[3..]);
    }

    /// <summary>
    /// A <c>sen:loc</c> data frame: <c>21 11 ID time:u32 lat:f32 lon:f32 spd:u16 alt:u16</c>
    /// (<see cref="LocationFrameSize"/> bytes).
    /// </summary>
    public static int WriteLocation(Span<byte> destination, byte channel, uint time, float lat, float lon, ushort speed, ushort altitude)
    {
        var d = destination[..LocationFrameSize];
        d[0] = Data1;
        d[1] = LocationFrameSize - 2;
        d[2] = channel;
        BinaryPrimitives.WriteUInt32BigEndian(d[3..], time);
        BinaryPrimitives.WriteSingleBigEndian(d[7..], lat);
        BinaryPrimitives.WriteSingleBigEndian(d[11..], lon);
        BinaryPrimitives.WriteUInt16BigEndian(d[15..], speed);
        BinaryPrimitives.WriteUInt16BigEndian(d[17..], altitude);
        return LocationFrameSize;
    }

    /// <summary><c>T SIZE ID PAYLOAD</c>: a data frame, the smallest width that holds it.</summary>
    public static int WriteData(Span<byte> destination, byte channel, ReadOnlySpan<byte> payload)
    {
        var size = 1 + payload.Length;
        var width = size <= byte.MaxValue ? 1 : size <= ushort.MaxValue ? 2 : 4;
        destination[0] = width switch { 1 => Data1, 2 => Data2, _ => Data4 };
        var pos = 1 + WriteLength(destination[1..], width, size);
        destination[pos++] = channel;
        payload.CopyTo(destination[pos..]);
        return pos + payload.Length;
    }

    /// <summary>A <c>sen:*</c> array <c>[u32 time, value]</c>, the smallest width that holds it.</summary>
    public static int WriteTimedValue(Span<byte> destination, byte channel, uint time, ReadOnlySpan<byte> value)
    {
        Span<byte> timeBytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(timeBytes, time);
        var width = ArrayWidth(timeBytes.Length + value.Length, 2, Math.Max(timeBytes.Length, value.Length));
        var pos = WriteArrayHeader(destination, channel, width, ArraySize(width, 2, timeBytes.Length + value.Length));
        pos += WriteItem(destination[pos..], width, timeBytes);
        pos += WriteItem(destination[pos..], width, value);
        return pos;
    }

    /// <summary>An array of text items, the smallest width that holds it.</summary>
    public static int WriteArray(Span<byte> destination, byte channel, IReadOnlyList<string> items)
    {
        var total = 0;
        var longest = 0;
        foreach (var item in items)
        {
            var n = Encoding.UTF8.GetByteCount(item);
            total += n;
            longest = Math.Max(longest, n);
        }
        var width = ArrayWidth(total, items.Count, longest);
        var pos = WriteArrayHeader(destination, channel, width, ArraySize(width, items.Count, total));
        foreach (var item in items)
        {
            var n = Encoding.UTF8.GetByteCount(item);
            pos += WriteLength(destination[pos..], width, n);
            pos += Encoding.UTF8.GetBytes(item, destination[pos..]);
        }
        return pos;
    }

    /// <summary>Bytes <see cref="WriteArray"/> needs.</summary>
    public static int ArrayFrameLength(IReadOnlyList<string> items)
    {
        var total = 0;
        var longest = 0;
        foreach (var item in items)
        {
            var n = Encoding.UTF8.GetByteCount(item);
            total += n;
            longest = Math.Max(longest, n);
        }
        var width = ArrayWidth(total, items.Count, longest);
        return 1 + width + ArraySize(width, items.Count, total);
    }

    private static int ArraySize(int width, int count, int itemBytes) => 1 + count * width + itemBytes;

    private static int ArrayWidth(int itemBytes, int count, int longest)
    {
        if (longest <= byte.MaxValue && ArraySize(1, count, itemBytes) <= byte.MaxValue)
        {
            return 1;
        }
        return longest <= ushort.MaxValue && ArraySize(2, count, itemBytes) <= ushort.MaxValue ? 2 : 4;
    }

    private static int WriteArrayHeader(Span<byte> destination, byte channel, int width, int size)
    {
        destination[0] = width switch { 1 => Array1, 2 => Array2, _ => Array4 };
        var pos = 1 + WriteLength(destination[1..], width, size);
        destination[pos] = channel;
        return pos + 1;
    }

    private static int WriteItem(Span<byte> destination, int width, ReadOnlySpan<byte> item)
    {
        var pos = WriteLength(destination, width, item.Length);
        item.CopyTo(destination[pos..]);
        return pos + item.Length;
    }

    private static int WriteLength(Span<byte> destination, int width, int value)
    {
        switch (width)
        {
            case 1: destination[0] = (byte)value; return 1;
            case 2: BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)value); return 2;
            default: BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)value); return 4;
        }
    }

    /// <summary>
    /// Reads one server frame from the start of <paramref name="buffer"/>.
    /// <c>false</c> = the frame is not complete yet (nothing consumed).
    /// </summary>
    /// <exception cref="ClientProtocolException">Unknown control type, type above 0x80, frame above 1 MiB.</exception>
    public static bool TryRead(ReadOnlySpan<byte> buffer, out M2mpServerFrame frame, out int consumed)
    {
        frame = default;
        consumed = 0;
        if (buffer.Length < 2)
        {
            return false;
        }
        var type = buffer[0];
        // control frames: T N
        if (type is Ident or Ping or ServerPing)
        {
            frame = new M2mpServerFrame(type, buffer[1], default, 0);
            consumed = 2;
            return true;
        }
        int width;
        if (type == ChannelDefinition || type is >= 0x21 and <= 0x40)
        {
            width = 1;
        }
        else if (type is >= 0x41 and <= 0x60)
        {
            width = 2;
        }
        else if (type is >= 0x61 and <= 0x80)
        {
            width = 4;
        }
        else
        {
            ClientProtocolException.Throw($"unknown M2MP frame type 0x{type:x2}");
            return false;
        }
        if (buffer.Length < 1 + width)
        {
            return false;
        }
        long size = width switch
        {
            1 => buffer[1],
            2 => BinaryPrimitives.ReadUInt16BigEndian(buffer[1..]),
            _ => BinaryPrimitives.ReadUInt32BigEndian(buffer[1..]),
        };
        if (size < 1 || 1 + width + size > MaxFrameSize)
        {
            ClientProtocolException.Throw($"M2MP frame size {size} out of range");
        }
        var total = 1 + width + (int)size;
        if (buffer.Length < total)
        {
            return false;
        }
        frame = new M2mpServerFrame(type, buffer[1 + width], buffer.Slice(2 + width, (int)size - 1), width);
        consumed = total;
        return true;
    }

    /// <summary>The items of an array frame as text (the rare path: settings, commands, status requests).</summary>
    /// <exception cref="ClientProtocolException">An item runs past the end of the frame.</exception>
    public static List<string> ReadItems(ReadOnlySpan<byte> payload, int width)
    {
        var items = new List<string>();
        while (!payload.IsEmpty)
        {
            if (payload.Length < width)
            {
                ClientProtocolException.Throw("truncated array item length");
            }
            long length = width switch
            {
                1 => payload[0],
                2 => BinaryPrimitives.ReadUInt16BigEndian(payload),
                _ => BinaryPrimitives.ReadUInt32BigEndian(payload),
            };
            if (length > payload.Length - width)
            {
                ClientProtocolException.Throw("array item runs past the end of its frame");
            }
            items.Add(Encoding.UTF8.GetString(payload.Slice(width, (int)length)));
            payload = payload[(width + (int)length)..];
        }
        return items;
    }
}
