using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace M2M.Ingest.M2mp;

/// <summary>
/// The receiving direction's channel table of one connection: id (0–255) → name, filled by <c>0x20</c> frames.
/// Names come from a <see cref="M2mpChannelNamePool"/> shared by every connection of the process, so a
/// name that a whole fleet defines is decoded once per definition and kept once, not once per connection.
/// </summary>
public sealed class M2mpReceiveChannels(M2mpChannelNamePool? pool = null)
{
    private static readonly string[] UndefinedNames = CreateUndefinedNames();

    private readonly M2mpChannelNamePool _pool = pool ?? M2mpChannelNamePool.Shared;

    // Grows to the highest id defined (devices number their channels from 0 upward, so a few
    // slots instead of 256 for every connection of a large fleet); empty until the first definition.
    private string?[] _names = [];

    /// <summary>The name of an id that was never defined: <c>__channel_&lt;id&gt;</c> (cached strings).</summary>
    public static string UndefinedName(byte id) => UndefinedNames[id];

    /// <summary>The name of channel <paramref name="id"/>, or <see cref="UndefinedName"/> when it was never defined.</summary>
    public string GetName(byte id) => (id < _names.Length ? _names[id] : null) ?? UndefinedNames[id];

    /// <summary>Applies a <see cref="M2mpFrameKind.ChannelDefinition"/> frame; returns the (interned) name.</summary>
    public string Define(in M2mpFrame frame)
    {
        if (frame.Kind != M2mpFrameKind.ChannelDefinition)
        {
            throw new ArgumentException("Not a channel definition frame.", nameof(frame));
        }

        return Define(frame.Channel, frame.Payload);
    }

    /// <summary>Defines (or redefines) channel <paramref name="id"/> with the UTF-8 <paramref name="name"/> (at most 254 bytes).</summary>
    public string Define(byte id, in ReadOnlySequence<byte> name)
    {
        if (name.Length > 254)
        {
            throw new ArgumentOutOfRangeException(nameof(name), "An M2MP channel name is at most 254 bytes.");
        }

        Span<byte> bytes = stackalloc byte[254];
        scoped ReadOnlySpan<byte> utf8;
        if (name.IsSingleSegment)
        {
            utf8 = name.FirstSpan;
        }
        else
        {
            name.CopyTo(bytes);
            utf8 = bytes[..(int)name.Length];
        }

        return Define(id, utf8);
    }

    /// <summary>Defines (or redefines) channel <paramref name="id"/> with the UTF-8 <paramref name="name"/> (at most 254 bytes; invalid UTF-8 becomes U+FFFD).</summary>
    public string Define(byte id, ReadOnlySpan<byte> name)
    {
        if (name.Length > 254)
        {
            throw new ArgumentOutOfRangeException(nameof(name), "An M2MP channel name is at most 254 bytes.");
        }

        Span<char> chars = stackalloc char[256];
        var length = Encoding.UTF8.GetChars(name, chars);
        var text = chars[..length];
        if (id >= _names.Length)
        {
            Array.Resize(ref _names, Math.Max(8, (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)id + 1)));
        }

        var current = _names[id];
        if (current is not null && text.SequenceEqual(current))
        {
            return current;
        }

        var shared = _pool.Get(text);
        _names[id] = shared;
        return shared;
    }

    private static string[] CreateUndefinedNames()
    {
        var names = new string[256];
        for (var i = 0; i < names.Length; i++)
        {
            names[i] = "__channel_" + i.ToString(CultureInfo.InvariantCulture);
        }

        return names;
    }
}

/// <summary>
/// Channel names shared by the connections of a process (<see cref="Shared"/>): one string per name.
/// Bounded: once <c>capacity</c> names are kept, further names are not shared (each definition gets a
/// string of its own), so devices that define ever-new names cannot make it grow.
/// </summary>
public sealed class M2mpChannelNamePool
{
    private readonly ConcurrentDictionary<string, string> _names = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private readonly int _capacity;
    private int _count;

    public M2mpChannelNamePool(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacity);
        _capacity = capacity;
        _lookup = _names.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    /// <summary>The pool of the process's device sessions (4,096 names).</summary>
    public static M2mpChannelNamePool Shared { get; } = new(4096);

    /// <summary>Names kept.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>The pool's string for <paramref name="name"/>, added when there is room; a new string when the pool is full.</summary>
    public string Get(ReadOnlySpan<char> name)
    {
        if (_lookup.TryGetValue(name, out var shared))
        {
            return shared;
        }

        var created = new string(name);
        if (Volatile.Read(ref _count) >= _capacity)
        {
            return created;
        }

        if (_names.TryAdd(created, created))
        {
            Interlocked.Increment(ref _count);
            return created;
        }

        // Added by another connection meanwhile.
        return _names.TryGetValue(created, out var raced) ? raced : created;
    }
}

/// <summary>
/// The sending direction's channel table of one connection: assigns ids from 0 upward, starts again from 0 when all
/// 256 are used (redefining them), and writes the <c>0x20</c> definition before the first use of a name.
/// </summary>
public sealed class M2mpSendChannels
{
    // Ids are handed out in order, so the table grows with use (a session uses a handful of
    // channels) instead of holding 256 slots for every connection of a large fleet. Looked up by a
    // scan that ends at the first empty slot (the defined ones come first): for a handful of names it
    // is as fast as a dictionary, and it costs no memory of its own.
    private string?[] _names = [];
    private int _next;

    /// <summary>The id of <paramref name="name"/>, defining it first (a <c>0x20</c> frame to <paramref name="output"/>) when needed.</summary>
    public byte GetOrDefine(IBufferWriter<byte> output, string name)
    {
        for (var i = 0; i < _names.Length && _names[i] is { } defined; i++)
        {
            if (string.Equals(defined, name, StringComparison.Ordinal))
            {
                return (byte)i;
            }
        }

        var id = (byte)_next;
        _next = (_next + 1) & 0xFF;
        if (id >= _names.Length)
        {
            Array.Resize(ref _names, Math.Clamp(_names.Length * 2, 4, 256));
        }

        M2mpWriter.WriteChannelDefinition(output, id, name);
        // A redefined id (after all 256 were used) takes the new name in place of the old one.
        _names[id] = name;
        return id;
    }

    /// <summary>A data frame on channel <paramref name="name"/> (defined first when needed).</summary>
    public void WriteData(IBufferWriter<byte> output, string name, ReadOnlySpan<byte> payload) =>
        M2mpWriter.WriteData(output, GetOrDefine(output, name), payload);

    /// <summary>An array of text items on channel <paramref name="name"/> (defined first when needed).</summary>
    public void WriteArray(IBufferWriter<byte> output, string name, scoped ReadOnlySpan<string> items) =>
        M2mpWriter.WriteArray(output, GetOrDefine(output, name), items);
}
