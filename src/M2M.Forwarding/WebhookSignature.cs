using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace M2M.Forwarding;

/// <summary>
/// How a delivery is signed, and how a receiver checks it (<c>docs/forwarding.md</c>):
/// <c>X-M2M-Signature: v1=</c>hex(HMAC-SHA256(secret, timestamp + "." + body)) with
/// <c>X-M2M-Timestamp</c> = unix seconds of the attempt. The secret is the endpoint's
/// <c>whsec_…</c> text as UTF-8 bytes. A receiver recomputes the HMAC over the raw body, compares
/// in constant time and refuses timestamps more than a few minutes away from its clock (replay).
/// </summary>
public static class WebhookSignature
{
    public const string SignatureHeader = "X-M2M-Signature";
    public const string TimestampHeader = "X-M2M-Timestamp";
    public const string DeliveryHeader = "X-M2M-Delivery";
    public const string EndpointHeader = "X-M2M-Endpoint";
    public const string Scheme = "v1=";

    /// <summary>The <see cref="SignatureHeader"/> value for <paramref name="body"/> sent at <paramref name="timestamp"/>.</summary>
    public static string Sign(string secret, long timestamp, ReadOnlySpan<byte> body)
    {
        var prefix = Encoding.ASCII.GetBytes(timestamp.ToString(CultureInfo.InvariantCulture) + ".");
        var message = new byte[prefix.Length + body.Length];
        prefix.CopyTo(message, 0);
        body.CopyTo(message.AsSpan(prefix.Length));
        return Scheme + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), message));
    }

    /// <summary>What a receiver does: checks the signature and that the timestamp is within <paramref name="tolerance"/> of <paramref name="now"/>.</summary>
    public static bool Verify(string secret, string? timestampHeader, string? signatureHeader, ReadOnlySpan<byte> body, DateTimeOffset now, TimeSpan tolerance)
    {
        if (!long.TryParse(timestampHeader, NumberStyles.None, CultureInfo.InvariantCulture, out var timestamp)
            || signatureHeader is null || !signatureHeader.StartsWith(Scheme, StringComparison.Ordinal))
        {
            return false;
        }
        if (Math.Abs(now.ToUnixTimeSeconds() - timestamp) > tolerance.TotalSeconds)
        {
            return false;
        }
        var expected = Encoding.ASCII.GetBytes(Sign(secret, timestamp, body));
        return CryptographicOperations.FixedTimeEquals(expected, Encoding.ASCII.GetBytes(signatureHeader));
    }
}
