using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using M2M.Server;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Cost of the credentials on the real server (<c>--auth</c>): the same cheap route
/// (<c>GET /api/auth/me</c>) with an access token (signature + user lookup, the baseline) and with
/// an API key (key lookup + keyed hash + domain lookup), and the refresh rotation (read + conditional
/// write) next to a password login (PBKDF2), one request at a time, medians and p99.
/// </summary>
internal static class AuthLatency
{
    public static async Task<int> RunAsync(int samples)
    {
        var directory = Path.Combine(Path.GetTempPath(), $"m2m-auth-bench-{Guid.NewGuid():N}");
        const string Password = "bench-password-1";
        var app = M2MServer.Build(["--urls", "http://127.0.0.1:0", "--M2M:DataDirectory", directory, "--M2M:Ingest:M2mpPort", "0", "--M2M:Ingest:AlipPort", "0",
            "--M2M:Admin:Password", Password, "--Logging:LogLevel:Default", "Warning", "--M2M:Api:LoginAddressFreeFailures", "1000000"]);
        await app.StartAsync();
        try
        {
            var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
            using var anonymous = new HttpClient { BaseAddress = address };
            var login = await (await anonymous.PostAsJsonAsync("/api/auth/token", new { user = "admin", password = Password })).Content.ReadFromJsonAsync<JsonElement>();
            using var withToken = Client(address, login.GetProperty("access_token").GetString()!);
            var created = await withToken.PostAsJsonAsync("/api/apikeys", new { name = "bench", domain = "default", scope = "read" });
            created.EnsureSuccessStatusCode();
            using var withKey = Client(address, (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("key").GetString()!);
            var refresh = login.GetProperty("refresh_token").GetString()!;

            for (var i = 0; i < 300; i++)
            {
                await TimeAsync(() => withToken.GetAsync("/api/auth/me"));
                await TimeAsync(() => withKey.GetAsync("/api/auth/me"));
            }
            Report("GET /api/auth/me, access token", await MeasureAsync(samples, () => withToken.GetAsync("/api/auth/me")));
            Report("GET /api/auth/me, API key", await MeasureAsync(samples, () => withKey.GetAsync("/api/auth/me")));
            Report("POST /api/auth/refresh (rotation)", await MeasureAsync(samples, async () =>
            {
                var response = await anonymous.PostAsJsonAsync("/api/auth/refresh", new { refresh_token = refresh });
                refresh = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("refresh_token").GetString()!;
                return response;
            }));
            Report("POST /api/auth/token (PBKDF2)", await MeasureAsync(Math.Max(1, samples / 10), () => anonymous.PostAsJsonAsync("/api/auth/token", new { user = "admin", password = Password })));
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
            Directory.Delete(directory, recursive: true);
        }
        return 0;
    }

    private static HttpClient Client(Uri address, string credential)
    {
        var client = new HttpClient { BaseAddress = address };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", credential);
        return client;
    }

    private static async Task<double> TimeAsync(Func<Task<HttpResponseMessage>> send)
    {
        var started = Stopwatch.GetTimestamp();
        using var response = await send();
        await response.Content.ReadAsByteArrayAsync();
        var elapsed = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        response.EnsureSuccessStatusCode();
        return elapsed;
    }

    private static async Task<double[]> MeasureAsync(int samples, Func<Task<HttpResponseMessage>> send)
    {
        var times = new double[samples];
        for (var i = 0; i < samples; i++)
        {
            times[i] = await TimeAsync(send);
        }
        Array.Sort(times);
        return times;
    }

    private static void Report(string name, double[] sorted) =>
        Console.WriteLine(FormattableString.Invariant(
            $"{name,-40} n={sorted.Length} median={sorted[sorted.Length / 2]:F3} ms p99={sorted[(int)(sorted.Length * 0.99)]:F3} ms"));
}
