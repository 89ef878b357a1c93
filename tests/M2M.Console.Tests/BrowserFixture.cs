using M2M.Testing;
using Microsoft.Playwright;

namespace M2M.Console.Tests;

/// <summary>
/// One started server and one headless Chromium (Debian's, launched by Playwright with an explicit
/// executable path and a fresh profile) shared by the browser tests; each test opens its own
/// browser context (own session storage). Without Chromium the tests skip, or fail when
/// <c>M2M_REQUIRE_SERVICES=1</c>.
/// </summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    /// <summary>Arguments for a headless Chromium that reaches nothing but the test server.</summary>
    public static readonly string[] ChromiumArgs =
    [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ];

    private ConsoleHost? _host;
    private IPlaywright? _playwright;
    private IBrowser? _browser;
    private string? _chromium;

    public ConsoleHost Host => _host ?? throw new InvalidOperationException("Not started.");

    /// <summary>Where the tests save screenshots (an artifact of the run): <c>M2M_CONSOLE_SCREENSHOTS</c> or <c>screenshots/</c> beside the tests.</summary>
    public static string ScreenshotDirectory { get; } =
        Environment.GetEnvironmentVariable("M2M_CONSOLE_SCREENSHOTS") is { Length: > 0 } configured
            ? configured
            : Path.Combine(AppContext.BaseDirectory, "screenshots");

    public async ValueTask InitializeAsync()
    {
        // Generous: the machine is shared with other builds; a wait ends as soon as its condition holds.
        Assertions.SetDefaultExpectTimeout(30_000);
        _host = await ConsoleHost.StartAsync();
        // Chromium is looked up when a test needs it: its absence skips (or fails) the tests, not the fixture.
        var configured = Environment.GetEnvironmentVariable(RequiredServices.ChromiumVariable);
        _chromium = string.IsNullOrWhiteSpace(configured) ? RequiredServices.DebianChromium : configured;
        if (File.Exists(_chromium))
        {
            _playwright = await Playwright.CreateAsync();
            _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = _chromium,
                Headless = true,
                Args = ChromiumArgs,
                Timeout = 60_000,
            });
        }
    }

    /// <summary>A fresh context (cookies, storage) and page on the server, 1400 × 900.</summary>
    public async Task<IPage> NewPageAsync()
    {
        _ = RequiredServices.Chromium; // skips or fails the test without a browser
        var context = await _browser!.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = Host.Address.ToString(),
            ViewportSize = new ViewportSize { Width = 1400, Height = 900 },
            AcceptDownloads = true,
        });
        context.SetDefaultTimeout(30_000);
        context.SetDefaultNavigationTimeout(30_000);
        return await context.NewPageAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (_browser is not null)
        {
            await _browser.CloseAsync();
        }
        _playwright?.Dispose();
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }
    }
}

[CollectionDefinition(Name)]
public sealed class BrowserCollection : ICollectionFixture<BrowserFixture>
{
    public const string Name = "browser";
}
