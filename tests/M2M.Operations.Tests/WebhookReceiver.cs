using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace M2M.Operations.Tests;

/// <summary>
/// A real HTTP receiver on a free loopback port, checking each delivery's signature as the
/// documentation tells receivers to (written here independently of the server's code).
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<long, JsonElement> _items = new();
    private readonly ConcurrentQueue<string> _deliveryIds = new();
    private int _badSignatures;
    private int _requests;

    private WebhookReceiver(WebApplication app) => _app = app;

    public Uri Url { get; private set; } = null!;

    /// <summary>The endpoint's secret, to verify signatures with (set after the endpoint is created).</summary>
    public string? Secret { get; set; }

    /// <summary>Status code to answer instead of 200 (0 = accept).</summary>
    public int FailWith { get; set; }

    /// <summary>Never answer (a dead endpoint that holds connections).</summary>
    public bool Hang { get; set; }

    public int Requests => Volatile.Read(ref _requests);

    public int BadSignatures => Volatile.Read(ref _badSignatures);

    /// <summary>Items accepted, by sequence (a redelivered item replaces itself).</summary>
    public IReadOnlyDictionary<long, JsonElement> Items => _items;

    public IReadOnlyCollection<string> DeliveryIds => _deliveryIds;

    public static async Task<WebhookReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var receiver = new WebhookReceiver(app);
        app.MapPost("/hook", (Delegate)receiver.HandleAsync);
        await app.StartAsync(TestContext.Current.CancellationToken);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        receiver.Url = new Uri(new Uri(address), "/hook");
        return receiver;
    }

    private async Task<IResult> HandleAsync(HttpContext context)
    {
        Interlocked.Increment(ref _requests);
        using var buffer = new MemoryStream();
        await context.Request.Body.CopyToAsync(buffer, context.RequestAborted);
        if (Hang)
        {
            await Task.Delay(Timeout.Infinite, context.RequestAborted);
        }
        var body = buffer.ToArray();
        if (Secret is { } secret && !Verify(secret, context.Request.Headers["X-M2M-Timestamp"], context.Request.Headers["X-M2M-Signature"], body))
        {
            Interlocked.Increment(ref _badSignatures);
            return Results.StatusCode(401);
        }
        if (FailWith != 0)
        {
            return Results.StatusCode(FailWith);
        }
        using var document = JsonDocument.Parse(body);
        var deliveryId = document.RootElement.GetProperty("deliveryId").GetString()!;
        if (context.Request.Headers["X-M2M-Delivery"] != deliveryId)
        {
            return Results.BadRequest();
        }
        foreach (var item in document.RootElement.GetProperty("items").EnumerateArray())
        {
            _items[item.GetProperty("seq").GetInt64()] = item.Clone();
        }
        _deliveryIds.Enqueue(deliveryId);
        return Results.Ok();
    }

    /// <summary>v1 = hex(HMAC-SHA256(secret, timestamp "." body)), timestamp within 5 minutes.</summary>
    private static bool Verify(string secret, string? timestamp, string? signature, byte[] body)
    {
        if (!long.TryParse(timestamp, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)
            || Math.Abs(DateTimeOffset.UtcNow.ToUnixTimeSeconds() - seconds) > 300 || signature is null)
        {
            return false;
        }
        using var hmac = new HMACSHA256(Encoding.UTF8.GetBytes(secret));
        hmac.TransformBlock(Encoding.ASCII.GetBytes(timestamp + "."), 0, timestamp!.Length + 1, null, 0);
        hmac.TransformFinalBlock(body, 0, body.Length);
        var expected = "v1=" + Convert.ToHexStringLower(hmac.Hash!);
        return CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.ASCII.GetBytes(signature));
    }

    /// <summary>Waits until <paramref name="condition"/> holds (generous timeout; never a fixed sleep).</summary>
    public static async Task WaitForAsync(Func<bool> condition, string what, int seconds = 90)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Timed out waiting for {what}.");
            }
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
    }
}
