namespace M2M.Server;

/// <summary>
/// <c>M2M.Server health [url]</c>: asks a running server's <c>/health</c> (default
/// <c>http://127.0.0.1:5080/health</c>) and exits 0 when it answers 200, 1 otherwise. Used as the
/// container health check, since the image carries no HTTP client tool.
/// </summary>
public static class HealthProbe
{
    public const string DefaultUrl = "http://127.0.0.1:5080/health";

    public static async Task<int> RunAsync(string? url)
    {
        if (!Uri.TryCreate(url ?? DefaultUrl, UriKind.Absolute, out var target))
        {
            await System.Console.Error.WriteLineAsync($"health: '{url}' is not a URL.");
            return 2;
        }
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            using var response = await client.GetAsync(target);
            await System.Console.Out.WriteLineAsync($"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            return response.IsSuccessStatusCode ? 0 : 1;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            await System.Console.Error.WriteLineAsync($"health: {e.Message}");
            return 1;
        }
    }
}
