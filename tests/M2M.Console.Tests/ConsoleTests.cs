using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Playwright;

namespace M2M.Console.Tests;

/// <summary>
/// The console in a real headless Chromium against the started server, with devices connected over
/// ALIP and M2MP sockets: what an operator does, checked on the page and on the device's socket.
/// </summary>
[Collection(BrowserCollection.Name)]
public class ConsoleTests(BrowserFixture fixture)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private ConsoleHost Host => fixture.Host;

    private static string NewIdent(string kind = "imei") => $"{kind}:{Guid.NewGuid().ToString("N")[..12]}";

    /// <summary>Signs in on the sign-in page and waits for the fleet.</summary>
    private static async Task SignInAsync(IPage page, string user = "admin", string password = ConsoleHost.AdminPassword)
    {
        await page.GotoAsync("/");
        await page.Locator("input[name=user]").FillAsync(user);
        await page.Locator("input[name=password]").FillAsync(password);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Assertions.Expect(page.GetByTestId("who")).ToContainTextAsync(user);
    }

    private static async Task ScreenshotAsync(IPage page, string name)
    {
        Directory.CreateDirectory(BrowserFixture.ScreenshotDirectory);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, name + ".png"), FullPage = false });
    }

    private async Task<string> DeviceIdAsync(HttpClient client, string ident)
    {
        var device = await client.GetFromJsonAsync<JsonElement>($"/api/devices/by-ident/{Uri.EscapeDataString(ident)}", Ct);
        return device.GetProperty("id").GetString()!;
    }

    [Fact]
    public async Task A_device_that_just_connected_shows_in_the_fleet_with_its_position_in_the_table_and_on_the_map()
    {
        var page = await NewPageAsync();
        await page.GotoAsync("/");
        await ScreenshotAsync(page, "01-sign-in");
        await SignInAsync(page);
        var ident = NewIdent();
        // The fleet is open, searched for a device that is not there yet.
        await page.GetByTestId("fleet-search").FillAsync(ident);
        await Assertions.Expect(page.GetByTestId("fleet-total")).ToHaveTextAsync("No device matches.");

        await using var alip = await AlipDevice.ConnectAsync(Host);
        await alip.IdentifyAsync(ident);
        var row = page.Locator($"tr[data-ident='{ident}']");
        await Assertions.Expect(row).ToHaveAttributeAsync("data-connected", "true");
        await alip.SendAsync("D L 48.85661,2.35222,42,35");
        await alip.SendAsync("D T 21.5");
        await alip.BarrierAsync();
        await Assertions.Expect(row.GetByTestId("fleet-position")).ToHaveTextAsync("48.85661, 2.35222");
        await Assertions.Expect(row).ToContainTextAsync("temp: 21.5");

        // A second device over M2MP, with a position of its own.
        var m2mpIdent = NewIdent("m2mp");
        await using var m2mp = await M2mpDevice.ConnectAsync(Host);
        await m2mp.IdentifyAsync(m2mpIdent);
        await m2mp.SendLocationAsync(DateTimeOffset.UtcNow, 52.52f, 13.405f, 12);
        await m2mp.BarrierAsync(7);
        await page.GetByTestId("fleet-search").FillAsync(m2mpIdent);
        var m2mpRow = page.Locator($"tr[data-ident='{m2mpIdent}']");
        await Assertions.Expect(m2mpRow).ToHaveAttributeAsync("data-connected", "true");
        await Assertions.Expect(m2mpRow.GetByTestId("fleet-position")).ToHaveTextAsync("52.52000, 13.40500");
        await page.GetByTestId("fleet-search").FillAsync("");
        await Assertions.Expect(page.Locator($"tr[data-ident='{ident}']")).ToBeVisibleAsync();
        await ScreenshotAsync(page, "02-fleet");

        // Both on the fleet map (SVG markers, one per device).
        using var admin = await Host.LoginAsync();
        var alipId = await DeviceIdAsync(admin, ident);
        var m2mpId = await DeviceIdAsync(admin, m2mpIdent);
        await page.GetByTestId("nav-map").ClickAsync();
        await Assertions.Expect(page.Locator($"path.dev-{alipId}")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator($"path.dev-{m2mpId}")).ToBeVisibleAsync();
        await ScreenshotAsync(page, "03-map");

        // The device page: latest values, and the track on the map.
        await page.GotoAsync($"/devices/{alipId}");
        await Assertions.Expect(page.GetByTestId("device-ident")).ToHaveTextAsync(ident);
        await Assertions.Expect(page.GetByTestId("latest-values").Locator("tr[data-type='sen:loc']")).ToContainTextAsync("48.85661, 2.35222");
        await ScreenshotAsync(page, "04-device");
        await alip.SendAsync("D L 48.85800,2.29450,30,40");
        await alip.BarrierAsync("2");
        await page.GetByTestId("tab-track").ClickAsync();
        await Assertions.Expect(page.GetByTestId("track-summary")).ToContainTextAsync("2 positions");
        await Assertions.Expect(page.GetByTestId("track-map").Locator("path.leaflet-interactive").First).ToBeVisibleAsync();
        await ScreenshotAsync(page, "05-track");
        await page.GetByTestId("tab-history").ClickAsync();
        await page.GetByTestId("history-type").SelectOptionAsync("sen:temp");
        await Assertions.Expect(page.GetByTestId("history-table")).ToContainTextAsync("21.5");
        await Assertions.Expect(page.GetByTestId("history-chart")).ToBeVisibleAsync();
        await ScreenshotAsync(page, "06-history");
        await page.GetByTestId("tab-events").ClickAsync();
        await Assertions.Expect(page.GetByTestId("connection-events")).ToContainTextAsync("device_identified");
        await ScreenshotAsync(page, "07-events");
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task A_setting_edited_in_the_console_reaches_the_device_socket_and_shows_acknowledged()
    {
        var ident = NewIdent();
        await using var device = await AlipDevice.ConnectAsync(Host);
        await device.IdentifyAsync(ident);
        using var admin = await Host.LoginAsync();
        var id = await DeviceIdAsync(admin, ident);
        var page = await NewPageAsync();
        await SignInAsync(page);
        await page.GotoAsync($"/devices/{id}/settings");

        await page.GetByTestId("setting-new-name").FillAsync("gps_period");
        await page.GetByTestId("setting-new-value").FillAsync("60");
        await page.GetByTestId("setting-add").ClickAsync();
        await device.ExpectAsync(l => l == "S S gps_period 60", "S S gps_period 60");
        var row = page.Locator("tr[data-setting='gps_period']");
        await Assertions.Expect(row).ToHaveAttributeAsync("data-pending", "true");
        await device.SendAsync("S A gps_period 60");
        await Assertions.Expect(row).ToHaveAttributeAsync("data-pending", "false");

        // Edited in place: the new value travels to the device and is acknowledged in turn.
        await row.GetByTestId("setting-edit").ClickAsync();
        await row.GetByTestId("setting-edit-value").FillAsync("120");
        await row.GetByTestId("setting-save").ClickAsync();
        await device.ExpectAsync(l => l == "S S gps_period 120", "S S gps_period 120");
        await Assertions.Expect(row).ToHaveAttributeAsync("data-pending", "true");
        await device.SendAsync("S A gps_period 120");
        await Assertions.Expect(row).ToHaveAttributeAsync("data-pending", "false");
        await Assertions.Expect(row).ToContainTextAsync("120");
        await Assertions.Expect(row).ToContainTextAsync("acknowledged");
        await Assertions.Expect(row.GetByTestId("setting-acked-at")).Not.ToHaveTextAsync("—");
        await ScreenshotAsync(page, "08-settings");

        var stored = await admin.GetFromJsonAsync<JsonElement>($"/api/devices/{id}/settings", Ct);
        Assert.Equal("120", stored.GetProperty("gps_period").GetProperty("value").GetString());
        Assert.False(stored.GetProperty("gps_period").GetProperty("pending").GetBoolean());
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task A_command_queued_in_the_console_reaches_the_device_and_its_response_appears()
    {
        var ident = NewIdent();
        await using var device = await AlipDevice.ConnectAsync(Host);
        await device.IdentifyAsync(ident);
        using var admin = await Host.LoginAsync();
        var id = await DeviceIdAsync(admin, ident);
        var page = await NewPageAsync();
        await SignInAsync(page);
        await page.GotoAsync($"/devices/{id}/commands");

        await page.GetByTestId("command-text").FillAsync("reboot now");
        await page.GetByTestId("command-ttl").FillAsync("600");
        await page.GetByTestId("command-queue").ClickAsync();
        var line = await device.ExpectAsync(l => l.StartsWith("C ", StringComparison.Ordinal) && l.EndsWith(" reboot now", StringComparison.Ordinal), "C <n> reboot now");
        var row = page.Locator("tr[data-command='reboot now']");
        await Assertions.Expect(row).ToBeVisibleAsync();
        await device.SendAsync($"C A {line.Split(' ')[1]} rebooting in 5s");
        await Assertions.Expect(row).ToHaveAttributeAsync("data-state", "acknowledged");
        await Assertions.Expect(row.GetByTestId("command-response")).ToHaveTextAsync("rebooting in 5s");
        await ScreenshotAsync(page, "09-commands");
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task A_file_uploaded_in_the_console_downloads_byte_identical()
    {
        var content = new byte[700_000];
        new Random(7).NextBytes(content);
        var name = $"report-{Guid.NewGuid():N}.bin";
        var source = Path.Combine(Path.GetTempPath(), name);
        await File.WriteAllBytesAsync(source, content, Ct);
        try
        {
            var page = await NewPageAsync();
            await SignInAsync(page);
            await page.GetByTestId("nav-files").ClickAsync();
            await page.GetByTestId("file-upload-input").SetInputFilesAsync(source);
            await page.GetByTestId("file-upload-button").ClickAsync();
            var row = page.Locator($"tr[data-file='{name}']");
            await Assertions.Expect(row).ToBeVisibleAsync();
            await Assertions.Expect(page.GetByTestId("file-upload-progress")).ToContainTextAsync("✓");
            await ScreenshotAsync(page, "10-files");

            var download = await page.RunAndWaitForDownloadAsync(() => row.GetByTestId("file-download").ClickAsync());
            var saved = Path.Combine(Path.GetTempPath(), $"dl-{Guid.NewGuid():N}");
            await download.SaveAsAsync(saved);
            try
            {
                Assert.Equal(name, download.SuggestedFilename);
                Assert.Equal(content, await File.ReadAllBytesAsync(saved, Ct));
            }
            finally
            {
                File.Delete(saved);
            }
            await page.Context.CloseAsync();
        }
        finally
        {
            File.Delete(source);
        }
    }

    [Fact]
    public async Task A_user_of_another_domain_sees_none_of_the_devices()
    {
        var ident = NewIdent();
        await using var device = await AlipDevice.ConnectAsync(Host);
        await device.IdentifyAsync(ident);
        await device.SendAsync("D L 40.4168,-3.7038");
        await device.BarrierAsync();
        using var admin = await Host.LoginAsync();
        var id = await DeviceIdAsync(admin, ident);
        var domain = "d" + Guid.NewGuid().ToString("N")[..10];
        var user = "u" + Guid.NewGuid().ToString("N")[..10];
        (await admin.PostAsJsonAsync("/api/domains", new { name = domain }, Ct)).EnsureSuccessStatusCode();
        (await admin.PostAsJsonAsync("/api/users", new { name = user, password = "password-" + user, domain }, Ct)).EnsureSuccessStatusCode();

        var page = await NewPageAsync();
        await SignInAsync(page, user, "password-" + user);
        await Assertions.Expect(page.GetByTestId("fleet-total")).ToHaveTextAsync("No device matches.");
        await Assertions.Expect(page.GetByTestId("nav-admin")).ToHaveCountAsync(0);
        await page.GetByTestId("fleet-search").FillAsync(ident);
        await Assertions.Expect(page.GetByTestId("fleet-total")).ToHaveTextAsync("No device matches.");
        await page.GetByTestId("nav-map").ClickAsync();
        await Assertions.Expect(page.GetByTestId("map-summary")).ToHaveTextAsync("No device has a position yet.");
        await Assertions.Expect(page.Locator($"path.dev-{id}")).ToHaveCountAsync(0);
        // Even by its address, the device does not exist for this user.
        await page.GotoAsync($"/devices/{id}");
        await Assertions.Expect(page.GetByTestId("problem-status")).ToHaveTextAsync("404");
        await page.GotoAsync("/admin");
        await Assertions.Expect(page.GetByTestId("problem")).ToBeVisibleAsync();
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task An_api_error_is_shown_as_its_problem_document()
    {
        var ident = NewIdent();
        using var admin = await Host.LoginAsync();
        var created = await (await admin.PostAsJsonAsync("/api/devices", new { ident }, Ct)).Content.ReadFromJsonAsync<JsonElement>(Ct);
        var id = created.GetProperty("id").GetString();
        var expected = await (await admin.PostAsJsonAsync($"/api/devices/{id}/commands", new { text = "x", ttlSeconds = 0 }, Ct)).Content.ReadFromJsonAsync<JsonElement>(Ct);

        var page = await NewPageAsync();
        await SignInAsync(page);
        await page.GotoAsync($"/devices/{id}/commands");
        await page.GetByTestId("command-text").FillAsync("x");
        await page.GetByTestId("command-ttl").FillAsync("0");
        await page.GetByTestId("command-queue").ClickAsync();
        var problem = page.GetByTestId("problem");
        await Assertions.Expect(problem.GetByTestId("problem-title")).ToHaveTextAsync(expected.GetProperty("title").GetString()!);
        await Assertions.Expect(problem.GetByTestId("problem-status")).ToHaveTextAsync("400");
        var message = expected.GetProperty("errors").GetProperty("ttlSeconds")[0].GetString()!;
        await Assertions.Expect(problem.GetByTestId("problem-errors")).ToContainTextAsync($"ttlSeconds: {message}");
        await ScreenshotAsync(page, "11-problem");

        // An admin-only page of the API, and an unknown device: their problem documents, never a blank page.
        await page.GotoAsync($"/devices/{Guid.NewGuid()}");
        await Assertions.Expect(page.GetByTestId("problem-status")).ToHaveTextAsync("404");
        await Assertions.Expect(page.GetByTestId("problem-title")).Not.ToBeEmptyAsync();
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task The_session_survives_a_reload_and_an_expired_session_signs_in_again_over_the_page()
    {
        var page = await NewPageAsync();
        await SignInAsync(page);
        await page.GetByTestId("nav-admin").ClickAsync();
        await Assertions.Expect(page.GetByTestId("users-table")).ToContainTextAsync("admin");
        await ScreenshotAsync(page, "12-admin");
        await page.ReloadAsync();
        await Assertions.Expect(page.GetByTestId("who")).ToContainTextAsync("admin");
        await Assertions.Expect(page.GetByTestId("users-table")).ToContainTextAsync("admin");

        // The stored access token goes bad (as an expired one does): the server answers 401 to the
        // page's calls and, with no refresh token, the console asks to sign in again over the page.
        await page.GotoAsync("/fleet?q=no-such-device");
        await Assertions.Expect(page.GetByTestId("fleet-total")).ToHaveTextAsync("No device matches.");
        await page.EvaluateAsync("""
            () => {
              const key = 'm2m.console.session';
              const s = JSON.parse(sessionStorage.getItem(key));
              s.accessToken = s.accessToken.slice(0, -4) + 'AAAA';
              delete s.refreshToken;
              sessionStorage.setItem(key, JSON.stringify(s));
            }
            """);
        await page.ReloadAsync();
        var dialog = page.GetByTestId("reauth");
        await Assertions.Expect(dialog).ToBeVisibleAsync();
        // The page behind the dialog is the one the user was on, search included.
        await Assertions.Expect(page.GetByTestId("fleet-search")).ToHaveValueAsync("no-such-device");
        await ScreenshotAsync(page, "13-sign-in-again");
        await dialog.Locator("input[name=password]").FillAsync(ConsoleHost.AdminPassword);
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Assertions.Expect(dialog).ToHaveCountAsync(0);
        // The interrupted call went through once signed in.
        await Assertions.Expect(page.GetByTestId("fleet-total")).ToHaveTextAsync("No device matches.");
        await Assertions.Expect(page.GetByTestId("fleet-search")).ToHaveValueAsync("no-such-device");
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task An_expired_access_token_is_refreshed_without_asking_and_sign_out_ends_the_refresh_token()
    {
        using var anonymous = new HttpClient { BaseAddress = Host.Address };
        var probe = await (await anonymous.PostAsJsonAsync("/api/auth/token", new { user = "admin", password = ConsoleHost.AdminPassword }, Ct)).Content.ReadFromJsonAsync<JsonElement>(Ct);
        if (!probe.TryGetProperty("refresh_token", out _))
        {
            Assert.Skip("This server issues no refresh tokens (POST /api/auth/token has no refresh_token): the console signs in again over the page instead (tested above).");
        }
        var page = await NewPageAsync();
        await SignInAsync(page);
        await page.GotoAsync("/fleet?q=no-such-device");
        await Assertions.Expect(page.GetByTestId("fleet-total")).ToHaveTextAsync("No device matches.");
        var before = await page.EvaluateAsync<string>("() => JSON.parse(sessionStorage.getItem('m2m.console.session')).refreshToken");

        // The access token goes bad; the refresh token is still good.
        await page.EvaluateAsync("""
            () => {
              const key = 'm2m.console.session';
              const s = JSON.parse(sessionStorage.getItem(key));
              s.accessToken = s.accessToken.slice(0, -4) + 'AAAA';
              sessionStorage.setItem(key, JSON.stringify(s));
            }
            """);
        await page.ReloadAsync();
        await Assertions.Expect(page.GetByTestId("fleet-total")).ToHaveTextAsync("No device matches.");
        await Assertions.Expect(page.GetByTestId("reauth")).ToHaveCountAsync(0);
        var after = await page.EvaluateAsync<string>("() => JSON.parse(sessionStorage.getItem('m2m.console.session')).refreshToken");
        Assert.NotEqual(before, after);
        // Rotation: the refresh token the console gave up no longer works.
        var reused = await anonymous.PostAsJsonAsync("/api/auth/refresh", new { refresh_token = before }, Ct);
        Assert.False(reused.IsSuccessStatusCode);

        // Sign-out ends the sign-in: the console's refresh token stops working too.
        await page.RunAndWaitForResponseAsync(
            () => page.GetByTestId("sign-out").ClickAsync(),
            r => r.Url.EndsWith("/api/auth/logout", StringComparison.Ordinal) && r.Status == 204);
        await Assertions.Expect(page.Locator("input[name=password]")).ToBeVisibleAsync();
        var afterLogout = await anonymous.PostAsJsonAsync("/api/auth/refresh", new { refresh_token = after }, Ct);
        Assert.False(afterLogout.IsSuccessStatusCode);
        await page.Context.CloseAsync();
    }

    private Task<IPage> NewPageAsync() => fixture.NewPageAsync();
}
