namespace M2M.Ingest.Tests;

internal static class Bytes
{
    /// <summary>Bytes from spec-style hex ("01 09 69 ...").</summary>
    public static byte[] FromHex(string hex) => Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal));

    public static string ToHex(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(bytes);
}
