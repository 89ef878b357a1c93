using System.Diagnostics.CodeAnalysis;

namespace M2M.Ingest.M2mp;

/// <summary>What was wrong with an M2MP byte stream; any of these closes the connection.</summary>
public enum M2mpError
{
    /// <summary>A control type that is not defined (0x00, 0x04–0x1F) or a type above 0x80.</summary>
    UnknownFrameType,

    /// <summary>A declared SIZE that makes the frame larger than the configured maximum (default 1 MiB).</summary>
    FrameTooLarge,

    /// <summary>A SIZE too small for the frame's fixed fields (0 for a channel definition, data or array: no channel id).</summary>
    InvalidSize,

    /// <summary>An array item length that runs past the end of its frame.</summary>
    ArrayItemOutOfBounds,
}

/// <summary>The single exception of the M2MP reader: the byte stream violates the protocol.</summary>
public sealed class M2mpProtocolException : Exception
{
    public M2mpProtocolException(M2mpError error, string message)
        : base(message)
    {
        Error = error;
    }

    /// <summary>Which rule was violated.</summary>
    public M2mpError Error { get; }

    [DoesNotReturn]
    internal static void ThrowUnknownFrameType(byte type) =>
        throw new M2mpProtocolException(M2mpError.UnknownFrameType, $"Unknown M2MP frame type 0x{type:x2}.");

    [DoesNotReturn]
    internal static void ThrowFrameTooLarge(long totalLength, int maxFrameSize) =>
        throw new M2mpProtocolException(M2mpError.FrameTooLarge, $"M2MP frame of {totalLength} bytes exceeds the maximum of {maxFrameSize} bytes.");

    [DoesNotReturn]
    internal static void ThrowInvalidSize(byte type, long size) =>
        throw new M2mpProtocolException(M2mpError.InvalidSize, $"M2MP frame type 0x{type:x2} declares size {size}, too small for its fields.");

    [DoesNotReturn]
    internal static void ThrowArrayItemOutOfBounds(long itemLength, long remaining) =>
        throw new M2mpProtocolException(M2mpError.ArrayItemOutOfBounds, $"M2MP array item of {itemLength} bytes runs past the end of its frame ({remaining} bytes left).");
}
