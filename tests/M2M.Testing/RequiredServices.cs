using Xunit;

namespace M2M.Testing;

/// <summary>
/// Tests that need an external server (PostgreSQL, NATS) read its address from an environment
/// variable. Without it they are skipped — unless <c>M2M_REQUIRE_SERVICES=1</c> (set by CI), in
/// which case a missing service fails the test instead of hiding it.
/// </summary>
public static class RequiredServices
{
    public const string RequireSwitch = "M2M_REQUIRE_SERVICES";

    /// <summary>Environment variable holding the PostgreSQL connection string.</summary>
    public const string PostgresVariable = "M2M_TEST_POSTGRES";

    /// <summary>Environment variable holding the NATS URL.</summary>
    public const string NatsVariable = "M2M_TEST_NATS";

    public static bool Required => Environment.GetEnvironmentVariable(RequireSwitch) == "1";

    /// <summary>The value of <paramref name="variable"/>, or a skip (a failure when services are required).</summary>
    public static string Get(string variable, string what)
    {
        var value = Environment.GetEnvironmentVariable(variable);
        if (!string.IsNullOrWhiteSpace(value))
        {
            return value;
        }
        var reason = $"{what} is not available: set {variable}.";
        if (Required)
        {
            Assert.Fail($"{reason} ({RequireSwitch}=1 turns this skip into a failure.)");
        }
        Assert.Skip(reason);
        return null!; // not reached: Assert.Skip throws.
    }

    /// <summary>Environment variable holding the path of a Chromium executable for the browser tests.</summary>
    public const string ChromiumVariable = "M2M_TEST_CHROMIUM";

    /// <summary>Where Debian's <c>chromium</c> package installs the browser.</summary>
    public const string DebianChromium = "/usr/bin/chromium";

    public static string Postgres => Get(PostgresVariable, "PostgreSQL");

    /// <summary>
    /// A Chromium executable: <c>M2M_TEST_CHROMIUM</c>, else <c>/usr/bin/chromium</c> when installed;
    /// a skip without one (a failure when services are required).
    /// </summary>
    public static string Chromium
    {
        get
        {
            var configured = Environment.GetEnvironmentVariable(ChromiumVariable);
            if (string.IsNullOrWhiteSpace(configured) && File.Exists(DebianChromium))
            {
                return DebianChromium;
            }
            var path = Get(ChromiumVariable, "Chromium (apt-get install chromium)");
            if (!File.Exists(path))
            {
                var reason = $"{ChromiumVariable}={path} does not exist.";
                if (Required)
                {
                    Assert.Fail(reason);
                }
                Assert.Skip(reason);
            }
            return path;
        }
    }

    public static string Nats => Get(NatsVariable, "NATS");
}
