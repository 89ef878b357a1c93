using System.Buffers.Binary;
using System.Security.Cryptography;

namespace M2M.Storage.Entities;

/// <summary>
/// Command ids: UUID version 7 strings (48-bit unix ms, a 12-bit sequence, random bits) that are
/// strictly increasing in a process, so ordinal order is creation order.
/// </summary>
public static class CommandIds
{
    private static readonly Lock Gate = new();
    private static long _lastMs;
    private static int _sequence;

    /// <summary>A new id, greater than every id returned before in this process.</summary>
    public static string Next(DateTimeOffset now)
    {
        long ms;
        int seq;
        lock (Gate)
        {
            ms = Math.Max(now.ToUnixTimeMilliseconds(), _lastMs);
            if (ms == _lastMs)
            {
                if (++_sequence > 0xFFF)
                {
                    ms++;
                    _sequence = 0;
                }
            }
            else
            {
                _sequence = 0;
            }
            _lastMs = ms;
            seq = _sequence;
        }
        Span<byte> bytes = stackalloc byte[16];
        RandomNumberGenerator.Fill(bytes);
        Span<byte> time = stackalloc byte[8];
        BinaryPrimitives.WriteInt64BigEndian(time, ms);
        time[2..].CopyTo(bytes);
        bytes[6] = (byte)(0x70 | (seq >> 8));
        bytes[7] = (byte)seq;
        bytes[8] = (byte)(0x80 | (bytes[8] & 0x3F));
        return new Guid(bytes, bigEndian: true).ToString("D");
    }

    /// <summary><c>true</c> for a string in the id format (a lowercase UUID with dashes).</summary>
    public static bool IsValid(string? id) => id is { Length: 36 } && Guid.TryParseExact(id, "D", out var g) && g.ToString("D") == id;
}
