using System.Buffers;
using System.Buffers.Binary;

namespace M2M.Ingest.M2mp;

/// <summary>The kinds of M2MP frames the reader returns.</summary>
public enum M2mpFrameKind : byte
{
    /// <summary><c>01 LEN IDENT</c> (from a device): <see cref="M2mpFrame.Payload"/> is the ident.</summary>
    Identification,

    /// <summary><c>01 OK</c> (from the server): <see cref="M2mpFrame.Value"/> is 1 (accepted) or 0 (refused).</summary>
    IdentificationResult,

    /// <summary><c>02 N</c>: the device's ping, or the server's answer to it; <see cref="M2mpFrame.Value"/> is N.</summary>
    DevicePing,

    /// <summary><c>03 N</c>: the server's ping, or the device's answer to it; <see cref="M2mpFrame.Value"/> is N.</summary>
    ServerPing,

    /// <summary><c>20 SIZE ID NAME</c>: <see cref="M2mpFrame.Channel"/> is ID, <see cref="M2mpFrame.Payload"/> the name.</summary>
    ChannelDefinition,

    /// <summary><c>21/41/61 SIZE ID PAYLOAD</c>.</summary>
    Data,

    /// <summary><c>22/42/62 SIZE ID {ILEN ITEM}*</c>: enumerate with <see cref="M2mpFrame.GetItems"/>.</summary>
    Array,

    /// <summary>A sized frame of an unknown type (0x23–0x40, 0x43–0x60, 0x63–0x80), skipped by its size.</summary>
    Skipped,
}

/// <summary>Which side sent the bytes being read (the identification frame <c>0x01</c> differs by direction).</summary>
public enum M2mpSender
{
    /// <summary>Bytes sent by a device (what the server reads).</summary>
    Device,

    /// <summary>Bytes sent by the server (what a device or a test reads).</summary>
    Server,
}

/// <summary>
/// One M2MP frame. It points into the reader's buffer (no copy): use it before advancing the pipe past it.
/// </summary>
public readonly struct M2mpFrame
{
    internal M2mpFrame(M2mpFrameKind kind, byte type, byte value, byte channel, int sizeWidth, int itemCount, long length, ReadOnlySequence<byte> payload)
    {
        Kind = kind;
        Type = type;
        Value = value;
        Channel = channel;
        SizeWidth = sizeWidth;
        ItemCount = itemCount;
        Length = length;
        Payload = payload;
    }

    public M2mpFrameKind Kind { get; }

    /// <summary>The type byte on the wire (e.g. 0x41 for a data frame with a 2-byte size).</summary>
    public byte Type { get; }

    /// <summary>N of a ping, OK of an identification result.</summary>
    public byte Value { get; }

    /// <summary>Channel id of a channel definition, data or array frame.</summary>
    public byte Channel { get; }

    /// <summary>Width of the SIZE (or LEN) field, and of every ILEN of an array: 1, 2 or 4; 0 for two-byte frames (pings, identification result).</summary>
    public int SizeWidth { get; }

    /// <summary>Number of items of an array frame.</summary>
    public int ItemCount { get; }

    /// <summary>Total bytes of the frame on the wire.</summary>
    public long Length { get; }

    /// <summary>
    /// Ident (identification), name (channel definition), payload (data), the <c>{ILEN ITEM}*</c> bytes (array)
    /// or the body after SIZE (skipped frame).
    /// </summary>
    public ReadOnlySequence<byte> Payload { get; }

    /// <summary>The items of an array frame, enumerated in place (validated by the reader: they never run past the frame); none for other kinds.</summary>
    public M2mpArrayEnumerator GetItems() => Kind == M2mpFrameKind.Array ? new(Payload, SizeWidth) : default;
}

/// <summary>Enumerates the items of an M2MP array frame without copying them (<c>foreach (var item in frame.GetItems())</c>).</summary>
public struct M2mpArrayEnumerator
{
    private readonly int _width;
    private readonly bool _contiguous;
    private ReadOnlySequence<byte> _remaining;
    private ReadOnlyMemory<byte> _remainingMemory;

    internal M2mpArrayEnumerator(ReadOnlySequence<byte> items, int width)
    {
        _width = width;

        // Contiguous items (the common case) are walked on memory, which is much cheaper to slice than a sequence.
        _contiguous = items.IsSingleSegment;
        _remaining = _contiguous ? default : items;
        _remainingMemory = _contiguous ? items.First : default;
        Current = default;
    }

    /// <summary>The current item's bytes (pointing into the frame).</summary>
    public ReadOnlySequence<byte> Current { get; private set; }

    public readonly M2mpArrayEnumerator GetEnumerator() => this;

    public bool MoveNext()
    {
        if (_contiguous)
        {
            if (_remainingMemory.IsEmpty)
            {
                return false;
            }

            var length = (int)M2mpReader.ReadSize(_remainingMemory.Span, _width);
            Current = new ReadOnlySequence<byte>(_remainingMemory.Slice(_width, length));
            _remainingMemory = _remainingMemory[(_width + length)..];
            return true;
        }

        if (_remaining.IsEmpty)
        {
            return false;
        }

        Span<byte> header = stackalloc byte[4];
        _remaining.Slice(0, _width).CopyTo(header);
        var itemLength = M2mpReader.ReadSize(header, _width);
        Current = _remaining.Slice(_width, itemLength);
        _remaining = _remaining.Slice(Current.End);
        return true;
    }
}

/// <summary>Helpers to look at a frame's bytes.</summary>
public static class M2mpSequenceExtensions
{
    /// <summary>The bytes as one span: the segment itself when contiguous, otherwise copied into <paramref name="scratch"/> (which must be large enough).</summary>
    public static ReadOnlySpan<byte> AsSpan(this in ReadOnlySequence<byte> bytes, Span<byte> scratch)
    {
        if (bytes.IsSingleSegment)
        {
            return bytes.FirstSpan;
        }

        bytes.CopyTo(scratch);
        return scratch[..(int)bytes.Length];
    }

    /// <summary>Reads a big-endian u32 item (e.g. the time item of a <c>sen:*</c> array); false when the item is not 4 bytes.</summary>
    public static bool TryReadUInt32BigEndian(this in ReadOnlySequence<byte> bytes, out uint value)
    {
        value = 0;
        if (bytes.Length != 4)
        {
            return false;
        }

        Span<byte> scratch = stackalloc byte[4];
        value = BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(scratch));
        return true;
    }
}
