using System.Buffers.Binary;
using System.Text;
using M2M.Storage.Registry;

namespace M2M.Storage.Rocks.Registry;

/// <summary>
/// Key layout of the registry and blocks column families (documented in <c>docs/storage-layout.md</c>).
/// Every key of a node starts with its UTF-8 path, so a subtree is the key range
/// <c>[path, path with its final '/' replaced by '0')</c>.
/// </summary>
internal static class RegistryKeys
{
    public const byte Separator = 0;
    public const byte StatusTag = (byte)'s';
    public const byte ValueTag = (byte)'v';
    public const byte ChildTag = (byte)'c';
    public const byte StatusCreated = (byte)'c';
    public const byte StatusDeleted = (byte)'d';

    /// <summary>Prefix of the soft-deletion index (<c>\x01 'd' path</c>); sorts before every path.</summary>
    public static readonly byte[] DeletedPrefix = [0x01, (byte)'d'];

    public static byte[] PathBytes(RegistryPath path) => Encoding.UTF8.GetBytes(path.Value);

    private static byte[] Tagged(RegistryPath path, byte tag, string? suffix)
    {
        var p = Encoding.UTF8.GetByteCount(path.Value);
        var s = suffix is null ? 0 : Encoding.UTF8.GetByteCount(suffix);
        var key = new byte[p + 2 + s];
        Encoding.UTF8.GetBytes(path.Value, key);
        key[p] = Separator;
        key[p + 1] = tag;
        if (suffix is not null)
        {
            Encoding.UTF8.GetBytes(suffix, key.AsSpan(p + 2));
        }
        return key;
    }

    public static byte[] Status(RegistryPath path) => Tagged(path, StatusTag, null);

    public static byte[] Value(RegistryPath path, string name) => Tagged(path, ValueTag, name);

    public static byte[] ValuePrefix(RegistryPath path) => Tagged(path, ValueTag, null);

    public static byte[] Child(RegistryPath path, string name) => Tagged(path, ChildTag, name);

    public static byte[] ChildPrefix(RegistryPath path) => Tagged(path, ChildTag, null);

    public static byte[] Deleted(RegistryPath path) => [.. DeletedPrefix, .. PathBytes(path)];

    /// <summary>First key of the subtree (the path itself).</summary>
    public static byte[] SubtreeStart(RegistryPath path) => PathBytes(path);

    /// <summary>Exclusive end of the subtree: the path with its final <c>/</c> (0x2F) replaced by <c>0</c> (0x30).</summary>
    public static byte[] SubtreeEnd(RegistryPath path)
    {
        var key = PathBytes(path);
        key[^1] = (byte)'0';
        return key;
    }

    /// <summary>Prefix of the blocks of one file node: <c>path \0</c>.</summary>
    public static byte[] BlockPrefix(RegistryPath path)
    {
        var p = PathBytes(path);
        return [.. p, Separator];
    }

    /// <summary>Key of block <paramref name="index"/> of a file: <c>path \0 index(8 bytes big-endian)</c>.</summary>
    public static byte[] Block(RegistryPath path, long index)
    {
        var p = PathBytes(path);
        var key = new byte[p.Length + 9];
        p.CopyTo(key, 0);
        key[p.Length] = Separator;
        BinaryPrimitives.WriteInt64BigEndian(key.AsSpan(p.Length + 1), index);
        return key;
    }

    public static long BlockIndex(ReadOnlySpan<byte> key) => BinaryPrimitives.ReadInt64BigEndian(key[^8..]);

    /// <summary>A value cell: 8 bytes big-endian expiry (unix ms, 0 = never) then the UTF-8 text.</summary>
    public static byte[] EncodeValue(string value, long expiresAtMs)
    {
        var bytes = new byte[8 + Encoding.UTF8.GetByteCount(value)];
        BinaryPrimitives.WriteInt64BigEndian(bytes, expiresAtMs);
        Encoding.UTF8.GetBytes(value, bytes.AsSpan(8));
        return bytes;
    }

    public static long ValueExpiry(ReadOnlySpan<byte> cell) => BinaryPrimitives.ReadInt64BigEndian(cell);

    public static string ValueText(ReadOnlySpan<byte> cell) => Encoding.UTF8.GetString(cell[8..]);

    public static bool IsLive(ReadOnlySpan<byte> cell, long nowMs)
    {
        var expiry = ValueExpiry(cell);
        return expiry == 0 || expiry > nowMs;
    }

    public static bool StartsWith(ReadOnlySpan<byte> key, ReadOnlySpan<byte> prefix) => key.StartsWith(prefix);

    public static string Suffix(ReadOnlySpan<byte> key, int prefixLength) => Encoding.UTF8.GetString(key[prefixLength..]);

    /// <summary>The path of a node key (<c>path \0 tag …</c>).</summary>
    public static RegistryPath PathOf(ReadOnlySpan<byte> key)
    {
        var end = key.IndexOf(Separator);
        return RegistryPath.Parse(Encoding.UTF8.GetString(end < 0 ? key : key[..end]));
    }
}
