using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace M2M.Ingest.M2mp;

/// <summary>
/// Reads M2MP frames from a byte stream without allocating; one instance per connection (it counts skipped frames).
/// </summary>
/// <remarks>
/// Session loop (frames point into the pipe's buffer, so handle them before <c>AdvanceTo</c>):
/// <code>
/// var result = await input.ReadAsync(ct);
/// var sr = new SequenceReader&lt;byte&gt;(result.Buffer);
/// try { while (m2mp.TryRead(ref sr, out var frame)) Handle(frame); }
/// finally { input.AdvanceTo(sr.Position, result.Buffer.End); }
/// </code>
/// <see cref="M2mpProtocolException"/> means: log, count, close the connection.
/// </remarks>
public sealed class M2mpReader
{
    /// <summary>The default maximum frame size: 1 MiB.</summary>
    public const int DefaultMaxFrameSize = 1024 * 1024;

    // Type byte + the widest SIZE field.
    private const int MaxHeaderLength = 5;

    /// <summary>Creates a reader of the frames sent by <paramref name="sender"/>.</summary>
    /// <param name="sender">Who sent the bytes (a server reads <see cref="M2mpSender.Device"/> frames).</param>
    /// <param name="maxFrameSize">Frames whose total length exceeds this are a protocol error.</param>
    public M2mpReader(M2mpSender sender = M2mpSender.Device, int maxFrameSize = DefaultMaxFrameSize)
    {
        Sender = sender;
        MaxFrameSize = maxFrameSize;
    }

    public M2mpSender Sender { get; }

    /// <summary>
    /// Frames whose total length exceeds this are a protocol error. May change between frames (a session
    /// accepts only small frames until the device is identified).
    /// </summary>
    public int MaxFrameSize
    {
        get;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 2);
            field = value;
        }
    }

    /// <summary>Sized frames of unknown types skipped so far on this connection.</summary>
    public long SkippedFrames { get; private set; }

    /// <summary>
    /// Reads one frame. <c>false</c>: the frame is not complete yet, nothing was consumed (<paramref name="reader"/> unchanged).
    /// <code>
    /// frame   = %x01 LEN IDENT           ; from a device: LEN 1 byte
    ///         / %x01 OK                  ; from the server
    ///         / %x02 N / %x03 N          ; pings and their answers
    ///         / %x20 SIZE1 ID NAME       ; SIZE1 = 1 + name length, &gt;= 1
    ///         / T SIZE ID PAYLOAD        ; T = %x21 / %x41 / %x61, SIZE 1 / 2 / 4 bytes, &gt;= 1
    ///         / T SIZE ID *(ILEN ITEM)   ; T = %x22 / %x42 / %x62, ILEN as wide as SIZE
    ///         / T SIZE BODY              ; other T in %x21-80: skipped
    /// SIZE counts the bytes after it; big-endian.
    /// </code>
    /// </summary>
    /// <exception cref="M2mpProtocolException">Unknown control type, frame over the maximum (checked as soon as SIZE is read),
    /// SIZE without room for the channel id, or an array item running past its frame.</exception>
    public bool TryRead(ref SequenceReader<byte> reader, out M2mpFrame frame)
    {
        frame = default;
        var unread = reader.UnreadSpan;
        if (unread.Length >= MaxHeaderLength)
        {
            return TryReadFrom(ref reader, unread, out frame);
        }

        // Rare: the header is cut by a segment boundary (or the stream is short); copy what there is.
        Span<byte> copy = stackalloc byte[MaxHeaderLength];
        var available = (int)Math.Min(reader.Remaining, MaxHeaderLength);
        if (available == 0)
        {
            return false;
        }

        reader.TryCopyTo(copy[..available]);
        return TryReadFrom(ref reader, copy[..available], out frame);
    }

    /// <summary>
    /// The Bedrock shape of <see cref="TryRead"/>: on success <paramref name="consumed"/> and <paramref name="examined"/>
    /// move past the frame; on "need more" <paramref name="examined"/> moves to the end of <paramref name="input"/>.
    /// </summary>
    public bool TryParseMessage(in ReadOnlySequence<byte> input, ref SequencePosition consumed, ref SequencePosition examined, out M2mpFrame frame)
    {
        var reader = new SequenceReader<byte>(input);
        if (TryRead(ref reader, out frame))
        {
            consumed = reader.Position;
            examined = consumed;
            return true;
        }

        examined = input.End;
        return false;
    }

    private bool TryReadFrom(ref SequenceReader<byte> reader, scoped ReadOnlySpan<byte> header, out M2mpFrame frame)
    {
        frame = default;
        var type = header[0];
        switch (type)
        {
            case 0x01 when Sender == M2mpSender.Device:
                if (header.Length < 2)
                {
                    return false;
                }

                return TryReadSized(ref reader, M2mpFrameKind.Identification, type, 1, header[1], out frame);
            case 0x01 or 0x02 or 0x03:
                if (header.Length < 2)
                {
                    return false;
                }

                var kind = type switch
                {
                    0x01 => M2mpFrameKind.IdentificationResult,
                    0x02 => M2mpFrameKind.DevicePing,
                    _ => M2mpFrameKind.ServerPing,
                };
                frame = new M2mpFrame(kind, type, header[1], 0, 0, 0, 2, default);
                reader.Advance(2);
                return true;
            case 0x20:
                if (header.Length < 2)
                {
                    return false;
                }

                if (header[1] == 0)
                {
                    M2mpProtocolException.ThrowInvalidSize(type, 0);
                }

                return TryReadSized(ref reader, M2mpFrameKind.ChannelDefinition, type, 1, header[1], out frame);
            case >= 0x21 and <= 0x80:
                var width = type <= 0x40 ? 1 : type <= 0x60 ? 2 : 4;
                if (header.Length < 1 + width)
                {
                    return false;
                }

                var size = ReadSize(header[1..], width);
                var sub = (type - 1) & 0x1F; // 0: data, 1: array
                var sizedKind = sub switch
                {
                    0 => M2mpFrameKind.Data,
                    1 => M2mpFrameKind.Array,
                    _ => M2mpFrameKind.Skipped,
                };
                if (size == 0 && sizedKind != M2mpFrameKind.Skipped)
                {
                    M2mpProtocolException.ThrowInvalidSize(type, 0);
                }

                return TryReadSized(ref reader, sizedKind, type, width, size, out frame);
            default:
                M2mpProtocolException.ThrowUnknownFrameType(type);
                return false;
        }
    }

    private bool TryReadSized(ref SequenceReader<byte> reader, M2mpFrameKind kind, byte type, int width, long size, out M2mpFrame frame)
    {
        frame = default;
        var total = 1 + width + size;
        if (total > MaxFrameSize)
        {
            M2mpProtocolException.ThrowFrameTooLarge(total, MaxFrameSize);
        }

        if (reader.Remaining < total)
        {
            return false;
        }

        // The whole frame is there: move past the header and take the body as a slice of the buffer (no copy).
        reader.Advance(1 + width);
        ReadOnlySequence<byte> body;
        switch (kind)
        {
            case M2mpFrameKind.Identification:
                reader.TryReadExact((int)size, out body);
                frame = new M2mpFrame(kind, type, 0, 0, width, 0, total, body);
                break;
            case M2mpFrameKind.Skipped:
                reader.TryReadExact((int)size, out body);
                SkippedFrames++;
                frame = new M2mpFrame(kind, type, 0, 0, width, 0, total, body);
                break;
            default:
                reader.TryRead(out var channel);
                reader.TryReadExact((int)size - 1, out var payload);
                var count = kind == M2mpFrameKind.Array ? CountItems(payload, width) : 0;
                frame = new M2mpFrame(kind, type, 0, channel, width, count, total, payload);
                break;
        }

        return true;
    }

    /// <summary>Walks <c>*(ILEN ITEM)</c> once to check that every item stays inside the frame.</summary>
    private static int CountItems(in ReadOnlySequence<byte> items, int width)
    {
        if (items.IsSingleSegment)
        {
            return CountItems(items.FirstSpan, width);
        }

        var count = 0;
        var reader = new SequenceReader<byte>(items);
        Span<byte> header = stackalloc byte[4];
        while (!reader.End)
        {
            if (reader.Remaining < width)
            {
                M2mpProtocolException.ThrowArrayItemOutOfBounds(width, reader.Remaining);
            }

            reader.TryCopyTo(header[..width]);
            var length = ReadSize(header, width);
            reader.Advance(width);
            if (length > reader.Remaining)
            {
                M2mpProtocolException.ThrowArrayItemOutOfBounds(length, reader.Remaining);
            }

            reader.Advance(length);
            count++;
        }

        return count;
    }

    private static int CountItems(ReadOnlySpan<byte> items, int width)
    {
        var count = 0;
        while (!items.IsEmpty)
        {
            if (items.Length < width)
            {
                M2mpProtocolException.ThrowArrayItemOutOfBounds(width, items.Length);
            }

            var length = ReadSize(items, width);
            items = items[width..];
            if (length > items.Length)
            {
                M2mpProtocolException.ThrowArrayItemOutOfBounds(length, items.Length);
            }

            items = items[(int)length..];
            count++;
        }

        return count;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static long ReadSize(ReadOnlySpan<byte> bytes, int width) => width switch
    {
        1 => bytes[0],
        2 => BinaryPrimitives.ReadUInt16BigEndian(bytes),
        _ => BinaryPrimitives.ReadUInt32BigEndian(bytes),
    };
}
