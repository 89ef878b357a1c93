using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using M2M.Load.Cli;

namespace M2M.Load.Runs;

/// <summary>
/// The HTTP API calls of <c>m2m-load commands</c>: sign-in, device ids by ident, queueing a command,
/// a command's state, and the <c>/api/events</c> stream of acknowledgements.
/// </summary>
public sealed class CommandApi : IDisposable
{
    private readonly HttpClient _http;
    private readonly HttpClient _events;

    private CommandApi(Uri baseAddress, int concurrency)
    {
        _http = new HttpClient(new SocketsHttpHandler
        {
            MaxConnectionsPerServer = concurrency,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
        })
        {
            BaseAddress = baseAddress,
            Timeout = TimeSpan.FromSeconds(30),
        };
        // The event stream on a connection of its own: it must never wait behind the POSTs.
        _events = new HttpClient(new SocketsHttpHandler()) { BaseAddress = baseAddress, Timeout = Timeout.InfiniteTimeSpan };
    }

    /// <summary>A client authorised with <c>--api-token</c>, or signed in with the user and password.</summary>
    /// <exception cref="IOException">The API cannot be reached or refuses the credentials.</exception>
    public static async Task<CommandApi> ConnectAsync(LoadOptions o, CancellationToken cancel)
    {
        var api = new CommandApi(o.ApiUrl!, o.ApiConcurrency);
        try
        {
            var token = o.ApiToken;
            if (token is null)
            {
                var password = CommandOptions.Password(o)
                    ?? throw new IOException($"commands needs --api-token, --api-password or ${CommandOptions.PasswordVariable}.");
                using var body = Json(writer =>
                {
                    writer.WriteString("user", o.ApiUser);
                    writer.WriteString("password", password);
                });
                using var response = await api._http.PostAsync("api/auth/token", body, cancel);
                if (!response.IsSuccessStatusCode)
                {
                    throw new IOException($"signing in as {o.ApiUser} at {o.ApiUrl}: {(int)response.StatusCode} {response.ReasonPhrase}");
                }
                using var answer = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancel));
                token = answer.RootElement.GetProperty("access_token").GetString();
            }
            var auth = new AuthenticationHeaderValue("Bearer", token);
            api._http.DefaultRequestHeaders.Authorization = auth;
            api._events.DefaultRequestHeaders.Authorization = auth;
            using (var me = await api._http.GetAsync("api/auth/me", cancel))
            {
                if (!me.IsSuccessStatusCode)
                {
                    throw new IOException($"the API at {o.ApiUrl} refuses the token: {(int)me.StatusCode} {me.ReasonPhrase}");
                }
            }
            return api;
        }
        catch (HttpRequestException e)
        {
            api.Dispose();
            throw new IOException($"the API at {o.ApiUrl} cannot be reached: {e.Message}", e);
        }
        catch
        {
            api.Dispose();
            throw;
        }
    }

    /// <summary>The id of the device with <paramref name="ident"/>, or null when the API does not know it.</summary>
    public async Task<Guid?> DeviceIdAsync(string ident, CancellationToken cancel)
    {
        using var response = await _http.GetAsync($"api/devices/by-ident/{Uri.EscapeDataString(ident)}", cancel);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
        if (!response.IsSuccessStatusCode)
        {
            throw new IOException($"GET device {ident}: {(int)response.StatusCode} {response.ReasonPhrase}");
        }
        using var answer = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancel));
        return answer.RootElement.GetProperty("id").GetGuid();
    }

    /// <summary>Queues <paramref name="text"/> for <paramref name="device"/>: the command id, or an error text.</summary>
    public async Task<(string? Id, string? Error)> PostCommandAsync(Guid device, string text, CancellationToken cancel)
    {
        using var body = Json(writer => writer.WriteString("text", text));
        using var response = await _http.PostAsync($"api/devices/{device:D}/commands", body, cancel);
        var content = await response.Content.ReadAsStringAsync(cancel);
        if (response.StatusCode != HttpStatusCode.Created)
        {
            return (null, $"POST command: {(int)response.StatusCode} {response.ReasonPhrase} {Shorten(content)}");
        }
        using var answer = JsonDocument.Parse(content);
        return (answer.RootElement.GetProperty("id").GetString(), null);
    }

    /// <summary>A command's state (<c>pending</c>, <c>sent</c>, <c>acknowledged</c>…), or null when it is not found.</summary>
    public async Task<string?> CommandStateAsync(Guid device, string commandId, CancellationToken cancel)
    {
        using var response = await _http.GetAsync($"api/devices/{device:D}/commands/{Uri.EscapeDataString(commandId)}", cancel);
        if (!response.IsSuccessStatusCode)
        {
            return null;
        }
        using var answer = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancel));
        return answer.RootElement.GetProperty("state").GetString();
    }

    /// <summary>
    /// Reads <c>/api/events</c> until <paramref name="cancel"/>: <paramref name="ready"/> completes at the
    /// stream's <c>ready</c> event, <paramref name="acknowledged"/> gets each <c>command_acknowledged</c>'s
    /// command id with the time it was read.
    /// </summary>
    public async Task ReadEventsAsync(Action<string, long> acknowledged, TaskCompletionSource ready, CancellationToken cancel)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "api/events?events=all");
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        using var response = await _events.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel);
        if (!response.IsSuccessStatusCode)
        {
            throw new IOException($"GET /api/events: {(int)response.StatusCode} {response.ReasonPhrase}");
        }
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancel), Encoding.UTF8);
        string? name = null;
        while (await reader.ReadLineAsync(cancel) is { } line)
        {
            var now = System.Diagnostics.Stopwatch.GetTimestamp();
            if (line.Length == 0)
            {
                name = null;
            }
            else if (line.StartsWith("event:", StringComparison.Ordinal))
            {
                name = line[6..].Trim();
                if (name == "ready")
                {
                    ready.TrySetResult();
                }
            }
            else if (line.StartsWith("data:", StringComparison.Ordinal) && name == "command_acknowledged")
            {
                if (CommandId(line.AsSpan(5)) is { } id)
                {
                    acknowledged(id, now);
                }
            }
        }
        throw new IOException("the API ended the event stream");
    }

    /// <summary>The <c>command_id</c> of an event's JSON data, or null.</summary>
    public static string? CommandId(ReadOnlySpan<char> data)
    {
        try
        {
            using var doc = JsonDocument.Parse(data.Trim().ToString());
            return doc.RootElement.ValueKind == JsonValueKind.Object
                && doc.RootElement.TryGetProperty("command_id", out var id) && id.ValueKind == JsonValueKind.String
                ? id.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static ByteArrayContent Json(Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            write(writer);
            writer.WriteEndObject();
        }
        var content = new ByteArrayContent(buffer.ToArray());
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return content;
    }

    private static string Shorten(string text) => text.Length <= 200 ? text : text[..200] + "…";

    public void Dispose()
    {
        _http.Dispose();
        _events.Dispose();
    }
}
