using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using M2M.Storage.TimeSeries;

namespace M2M.Storage.Forwarding;

/// <summary>
/// The engine-neutral encoding of a feed entry (<see cref="FeedGroup.Payload"/>), so that every
/// backend stores the same bytes:
/// <code>
/// entry = version:u8 (1) │ count:u32 LE │ item*
/// item  = kind:u8 │ idLength:u16 LE │ id:UTF-8 │ typeLength:u16 LE │ type:UTF-8 │ ticks:i64 LE │ dataLength:u32 LE │ data:UTF-8
/// </code>
/// Item <c>i</c> (from 0) of an entry whose first sequence is <c>s</c> has sequence <c>s + i</c>.
/// </summary>
public static class FeedCodec
{
    private const byte Version = 1;

    /// <summary>Bytes before the first item.</summary>
    public const int HeaderBytes = 5;

    /// <summary>The number of items of an encoded entry.</summary>
    /// <exception cref="FormatException">Not an entry of this format.</exception>
    public static int ReadCount(ReadOnlySpan<byte> entry)
    {
        if (entry.Length < HeaderBytes || entry[0] != Version)
        {
            throw new FormatException("Not a forwarding feed entry of version 1.");
        }
        return checked((int)BinaryPrimitives.ReadUInt32LittleEndian(entry[1..]));
    }

    /// <summary>Decodes the items of an entry whose first sequence is <paramref name="first"/>, keeping those above <paramref name="after"/>, at most <paramref name="max"/> in all in <paramref name="into"/>.</summary>
    /// <exception cref="FormatException">The entry is truncated or malformed.</exception>
    public static void Decode(ReadOnlySpan<byte> entry, long first, long after, List<FeedItem> into, int max)
    {
        var count = ReadCount(entry);
        var rest = entry[HeaderBytes..];
        for (var i = 0; i < count && into.Count < max; i++)
        {
            var kind = (FeedItemKind)Take(ref rest, 1)[0];
            var id = Encoding.UTF8.GetString(Take(ref rest, BinaryPrimitives.ReadUInt16LittleEndian(Take(ref rest, 2))));
            var type = Encoding.UTF8.GetString(Take(ref rest, BinaryPrimitives.ReadUInt16LittleEndian(Take(ref rest, 2))));
            var ticks = BinaryPrimitives.ReadInt64LittleEndian(Take(ref rest, 8));
            var dataLength = checked((int)BinaryPrimitives.ReadUInt32LittleEndian(Take(ref rest, 4)));
            var data = Take(ref rest, dataLength);
            var sequence = first + i;
            if (sequence <= after)
            {
                continue;
            }
            if (kind is not (FeedItemKind.Record or FeedItemKind.Event) || ticks < DateTimeOffset.MinValue.UtcTicks || ticks > DateTimeOffset.MaxValue.UtcTicks)
            {
                throw new FormatException($"Feed item {sequence} is malformed.");
            }
            into.Add(new FeedItem(sequence, kind, new TimeSeriesRecord(id, type, new DateTimeOffset(ticks, TimeSpan.Zero), Encoding.UTF8.GetString(data))));
        }
    }

    private static ReadOnlySpan<byte> Take(ref ReadOnlySpan<byte> rest, int length)
    {
        if (rest.Length < length)
        {
            throw new FormatException("A forwarding feed entry is truncated.");
        }
        var taken = rest[..length];
        rest = rest[length..];
        return taken;
    }

    /// <summary>Builds one entry item by item. Reusable after <see cref="ToGroup"/>.</summary>
    public sealed class Builder
    {
        private readonly ArrayBufferWriter<byte> _buffer = new(4096);

        public Builder() => Reset();

        /// <summary>Items added since the last reset.</summary>
        public int Count { get; private set; }

        /// <summary>Bytes of the entry so far.</summary>
        public int Length => _buffer.WrittenCount;

        public void Add(FeedItemKind kind, in TimeSeriesRecord item)
        {
            var idBytes = Encoding.UTF8.GetByteCount(item.Id);
            var typeBytes = Encoding.UTF8.GetByteCount(item.Type);
            var dataBytes = Encoding.UTF8.GetByteCount(item.Data);
            if (idBytes > ushort.MaxValue || typeBytes > ushort.MaxValue)
            {
                throw new ArgumentException("A feed item's id and type are at most 65535 UTF-8 bytes.", nameof(item));
            }
            var span = _buffer.GetSpan(1 + 2 + idBytes + 2 + typeBytes + 8 + 4 + dataBytes);
            span[0] = (byte)kind;
            var at = 1;
            BinaryPrimitives.WriteUInt16LittleEndian(span[at..], (ushort)idBytes);
            at += 2 + Encoding.UTF8.GetBytes(item.Id, span[(at + 2)..]);
            BinaryPrimitives.WriteUInt16LittleEndian(span[at..], (ushort)typeBytes);
            at += 2 + Encoding.UTF8.GetBytes(item.Type, span[(at + 2)..]);
            BinaryPrimitives.WriteInt64LittleEndian(span[at..], item.Time.UtcTicks);
            at += 8;
            BinaryPrimitives.WriteUInt32LittleEndian(span[at..], (uint)dataBytes);
            at += 4 + Encoding.UTF8.GetBytes(item.Data, span[(at + 4)..]);
            _buffer.Advance(at);
            Count++;
        }

        /// <summary>The entry for <paramref name="domain"/>; the builder starts over.</summary>
        public FeedGroup ToGroup(Guid domain)
        {
            var payload = _buffer.WrittenSpan.ToArray();
            BinaryPrimitives.WriteUInt32LittleEndian(payload.AsSpan(1), (uint)Count);
            var group = new FeedGroup(domain, Count, payload);
            Reset();
            return group;
        }

        private void Reset()
        {
            _buffer.ResetWrittenCount();
            var header = _buffer.GetSpan(HeaderBytes);
            header[0] = Version;
            header[1..HeaderBytes].Clear();
            _buffer.Advance(HeaderBytes);
            Count = 0;
        }
    }
}
