using System.Buffers;
using System.Globalization;
using System.Text;

namespace M2M.Ingest.M2mp;

/// <summary>
/// The receiving direction's channel table of one connection: id (0–255) → name, filled by <c>0x20</c> frames.
/// Names are interned per connection, so a hot channel name is decoded once, not on every frame or redefinition.
/// </summary>
public sealed class M2mpReceiveChannels
{
    // Bounds what a device that defines ever-new names can make the table keep.
    private const int MaxInterned = 1024;

    private static readonly string[] UndefinedNames = CreateUndefinedNames();

    // Grows to the highest id defined (devices number their channels from 0 upward, so a few
    // slots instead of 256 for every connection of a large fleet); empty until the first definition.
    private string?[] _names = [];
    private HashSet<string>? _interned;

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

        _interned ??= new HashSet<string>(StringComparer.Ordinal);
        var lookup = _interned.GetAlternateLookup<ReadOnlySpan<char>>();
        if (!lookup.TryGetValue(text, out var interned))
        {
            if (_interned.Count >= MaxInterned)
            {
                _interned.Clear();
            }

            interned = new string(text);
            _interned.Add(interned);
        }

        _names[id] = interned;
        return interned;
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
/// The sending direction's channel table of one connection: assigns ids from 0 upward, starts again from 0 when all
/// 256 are used (redefining them), and writes the <c>0x20</c> definition before the first use of a name.
/// </summary>
public sealed class M2mpSendChannels
{
    // Ids are handed out in order, so the table grows with use (a session uses a handful of
    // channels) instead of holding 256 slots for every connection of a large fleet.
    private string?[] _names = [];
    private Dictionary<string, byte>? _ids;
    private int _next;

    /// <summary>The id of <paramref name="name"/>, defining it first (a <c>0x20</c> frame to <paramref name="output"/>) when needed.</summary>
    public byte GetOrDefine(IBufferWriter<byte> output, string name)
    {
        _ids ??= new Dictionary<string, byte>(StringComparer.Ordinal);
        if (_ids.TryGetValue(name, out var id))
        {
            return id;
        }

        id = (byte)_next;
        _next = (_next + 1) & 0xFF;
        if (id >= _names.Length)
        {
            Array.Resize(ref _names, Math.Clamp(_names.Length * 2, 4, 256));
        }

        M2mpWriter.WriteChannelDefinition(output, id, name);
        if (_names[id] is { } previous)
        {
            _ids.Remove(previous);
        }

        _names[id] = name;
        _ids[name] = id;
        return id;
    }

    /// <summary>A data frame on channel <paramref name="name"/> (defined first when needed).</summary>
    public void WriteData(IBufferWriter<byte> output, string name, ReadOnlySpan<byte> payload) =>
        M2mpWriter.WriteData(output, GetOrDefine(output, name), payload);

    /// <summary>An array of text items on channel <paramref name="name"/> (defined first when needed).</summary>
    public void WriteArray(IBufferWriter<byte> output, string name, scoped ReadOnlySpan<string> items) =>
        M2mpWriter.WriteArray(output, GetOrDefine(output, name), items);
}
