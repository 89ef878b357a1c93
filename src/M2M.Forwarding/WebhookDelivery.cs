using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using M2M.Storage.Forwarding;
using Microsoft.Extensions.Options;

namespace M2M.Forwarding;

/// <summary>
/// Builds and posts one delivery: the JSON body, its signature headers, the HTTP call with a timeout.
/// Endpoints made by non-administrators (<see cref="Webhook.Restricted"/>) connect only to public
/// addresses, checked on the address actually connected to (a name that resolves to a private
/// address is refused, whatever it resolved to before).
/// </summary>
public sealed class WebhookDelivery : IDisposable
{
    private readonly HttpClient _open;
    private readonly HttpClient _restricted;
    private readonly ForwardingKey _key;
    private readonly ForwardingMetrics _metrics;
    private readonly TimeProvider _time;

    public WebhookDelivery(ForwardingKey key, ForwardingMetrics metrics, IOptions<ForwardingOptions> options, TimeProvider time)
    {
        _key = key;
        _metrics = metrics;
        _time = time;
        _open = NewClient(restricted: false, options.Value.RequestTimeout);
        _restricted = NewClient(restricted: !options.Value.AllowPrivateTargets, options.Value.RequestTimeout);
    }

    /// <summary>Counts items acknowledged by a receiver.</summary>
    public void CountDelivered(int count) => _metrics.Items.Add(count);

    /// <summary>The outcome of one attempt: success, or the error to show in the status.</summary>
    public readonly record struct Outcome(bool Success, string? Error);

    /// <summary>Posts <paramref name="body"/> to the endpoint, signed.</summary>
    public async Task<Outcome> PostAsync(Webhook webhook, string deliveryId, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        var timestamp = _time.GetUtcNow().ToUnixTimeSeconds();
        using var request = new HttpRequestMessage(HttpMethod.Post, webhook.Url)
        {
            Content = new ReadOnlyMemoryContent(body),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        request.Headers.Add(WebhookSignature.DeliveryHeader, deliveryId);
        request.Headers.Add(WebhookSignature.EndpointHeader, webhook.Id.ToString("D"));
        request.Headers.Add(WebhookSignature.TimestampHeader, timestamp.ToString(System.Globalization.CultureInfo.InvariantCulture));
        request.Headers.Add(WebhookSignature.SignatureHeader, WebhookSignature.Sign(_key.SecretFor(webhook.Id, webhook.SecretGeneration), timestamp, body.Span));
        request.Headers.UserAgent.Add(new ProductInfoHeaderValue("m2m-webhook", "1"));
        var started = Stopwatch.GetTimestamp();
        Outcome outcome;
        try
        {
            using var response = await (webhook.Restricted ? _restricted : _open)
                .SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            outcome = response.IsSuccessStatusCode
                ? new Outcome(true, null)
                : new Outcome(false, $"HTTP {(int)response.StatusCode} {response.ReasonPhrase}");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            outcome = new Outcome(false, "timed out waiting for the receiver");
        }
        catch (HttpRequestException e)
        {
            outcome = new Outcome(false, e.InnerException is { } inner ? $"{e.Message} ({inner.Message})" : e.Message);
        }
        _metrics.Duration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds);
        _metrics.Deliveries.Add(1, new KeyValuePair<string, object?>("outcome", outcome.Success ? "success" : "failure"));
        return outcome;
    }

    /// <summary>
    /// The body of a delivery:
    /// <c>{"deliveryId","endpointId","domainId","first","last","items":[{"seq","kind","deviceId","ident","type","time","data"}…]}</c>;
    /// <c>data</c> is the record's JSON document (an event's fields), inlined.
    /// </summary>
    public static void WriteBody(IBufferWriter<byte> output, string deliveryId, Webhook webhook, long first, long last, IReadOnlyList<(FeedItem Item, string? Ident)> items)
    {
        using var writer = new Utf8JsonWriter(output);
        writer.WriteStartObject();
        writer.WriteString("deliveryId", deliveryId);
        writer.WriteString("endpointId", webhook.Id);
        writer.WriteString("domainId", webhook.DomainId);
        writer.WriteNumber("first", first);
        writer.WriteNumber("last", last);
        writer.WriteStartArray("items");
        foreach (var (item, ident) in items)
        {
            writer.WriteStartObject();
            writer.WriteNumber("seq", item.Sequence);
            writer.WriteString("kind", item.Kind == FeedItemKind.Event ? "event" : "record");
            var id = item.Item.Id;
            if (id.StartsWith("dev-", StringComparison.Ordinal))
            {
                writer.WriteString("deviceId", id.AsSpan(4));
            }
            else
            {
                writer.WriteString("series", id);
            }
            if (ident is not null)
            {
                writer.WriteString("ident", ident);
            }
            writer.WriteString("type", item.Item.Type);
            writer.WriteString("time", item.Item.Time.UtcDateTime);
            writer.WritePropertyName("data");
            if (IsJson(item.Item.Data))
            {
                writer.WriteRawValue(item.Item.Data, skipInputValidation: true);
            }
            else
            {
                writer.WriteStringValue(item.Item.Data);
            }
            writer.WriteEndObject();
        }
        writer.WriteEndArray();
        writer.WriteEndObject();
    }

    /// <summary>Whether <paramref name="text"/> is one complete JSON value (records are written as JSON, but one bad record must not break a batch).</summary>
    private static bool IsJson(string text)
    {
        var bytes = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetMaxByteCount(text.Length));
        try
        {
            var length = Encoding.UTF8.GetBytes(text, bytes);
            var reader = new Utf8JsonReader(bytes.AsSpan(0, length));
            if (!reader.Read())
            {
                return false;
            }
            reader.Skip();
            return !reader.Read();
        }
        catch (JsonException)
        {
            return false;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bytes);
        }
    }

    private static HttpClient NewClient(bool restricted, TimeSpan timeout)
    {
        var handler = new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            ConnectTimeout = timeout,
            AllowAutoRedirect = false,
            UseCookies = false,
        };
        if (restricted)
        {
            handler.ConnectCallback = ConnectPublicOnlyAsync;
        }
        return new HttpClient(handler) { Timeout = timeout };
    }

    private static async ValueTask<Stream> ConnectPublicOnlyAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var addresses = await Dns.GetHostAddressesAsync(context.DnsEndPoint.Host, cancellationToken).ConfigureAwait(false);
        var allowed = addresses.Where(IsPublic).ToArray();
        if (allowed.Length == 0)
        {
            throw new HttpRequestException($"{context.DnsEndPoint.Host} has no public address; endpoints made by domain users may not reach private networks.");
        }
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(allowed, context.DnsEndPoint.Port, cancellationToken).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Not loopback, private (RFC 1918, unique local), link-local, CGNAT, unspecified or multicast.</summary>
    public static bool IsPublic(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }
        if (IPAddress.IsLoopback(address) || address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any))
        {
            return false;
        }
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            var b = address.GetAddressBytes();
            return !(b[0] == 10 || b[0] == 0 || (b[0] == 172 && b[1] >= 16 && b[1] <= 31) || (b[0] == 192 && b[1] == 168)
                || (b[0] == 169 && b[1] == 254) || (b[0] == 100 && b[1] >= 64 && b[1] <= 127) || b[0] >= 224);
        }
        return !(address.IsIPv6LinkLocal || address.IsIPv6SiteLocal || address.IsIPv6UniqueLocal || address.IsIPv6Multicast);
    }

    public void Dispose()
    {
        _open.Dispose();
        _restricted.Dispose();
    }
}
