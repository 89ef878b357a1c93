using System.Net;
using System.Text.Json;
using M2M.Cli;
using M2M.Testing;

namespace M2M.Operations.Tests;

/// <summary>The <c>m2m</c> commands against a started server and on data directories.</summary>
public sealed class CliTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private sealed record Run(int ExitCode, string Output, string Error);

    private static async Task<Run> M2mWithInputAsync(string stdin, params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await CliApp.RunAsync(args, output, error, new StringReader(stdin), Ct);
        return new Run(code, output.ToString(), error.ToString());
    }

    private static Task<Run> M2mAsync(params string[] args) => M2mWithInputAsync("", args);

    private static async Task<string> LoginAsync(Uri server)
    {
        var login = await M2mWithInputAsync(ServerArgs.AdminPassword + "\n", "login", "--server", server.ToString(), "--user", "admin");
        Assert.Equal(0, login.ExitCode);
        return login.Output.Trim();
    }

    [Fact]
    public async Task Backup_through_the_server_and_restore_into_an_empty_directory_keep_the_records()
    {
        using var data = new TempDirectory("m2m-cli");
        using var restored = new TempDirectory("m2m-cli-restored");
        using var files = new TempDirectory("m2m-cli-files");
        var archive = Path.Combine(files.Path, "b.tar.gz");
        string ident;
        await using (var server = await InProcessServer.StartAsync(data.Path))
        {
            var token = await LoginAsync(server.Http);
            await using var device = await AlipDevice.ConnectAsync(server.Alip);
            await device.SendRecordsAsync(50);
            ident = device.Ident;

            var backup = await M2mAsync("backup", "--server", server.Http.ToString(), "--token", token, "--output", archive);
            Assert.True(backup.ExitCode == 0, backup.Error);
            var again = await M2mAsync("backup", "--server", server.Http.ToString(), "--token", token, "--output", archive);
            Assert.Equal(1, again.ExitCode);
            Assert.Contains("exists", again.Error, StringComparison.Ordinal);
        }

        var refused = await M2mAsync("restore", "--input", archive, "--data-dir", data.Path);
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("not empty", refused.Error, StringComparison.Ordinal);

        var restore = await M2mAsync("restore", "--input", archive, "--data-dir", restored.Path);
        Assert.True(restore.ExitCode == 0, restore.Error);
        await using (var server = await InProcessServer.StartAsync(restored.Path))
        {
            using var admin = await Api.SignInAsync(server.Http);
            var id = (await Api.GetAsync(admin, $"/api/devices/by-ident/{Uri.EscapeDataString(ident)}")).GetProperty("id").GetString();
            var page = await Api.GetAsync(admin, $"/api/devices/{id}/data?type=sen:temp&limit=1000");
            Assert.Equal(50, page.GetProperty("items").GetArrayLength());
        }
    }

    [Fact]
    public async Task An_offline_backup_of_a_stopped_server_restores()
    {
        using var data = new TempDirectory("m2m-cli");
        using var restored = new TempDirectory("m2m-cli-restored");
        using var files = new TempDirectory("m2m-cli-files");
        var archive = Path.Combine(files.Path, "offline.tar.gz");
        await using (var server = await InProcessServer.StartAsync(data.Path))
        {
            var live = await M2mAsync("backup", "--data-dir", data.Path, "--output", archive);
            Assert.Equal(1, live.ExitCode);
            Assert.Contains("in use", live.Error, StringComparison.Ordinal);
            Assert.False(File.Exists(archive));
        }

        var backup = await M2mAsync("backup", "--data-dir", data.Path, "--output", archive);
        Assert.True(backup.ExitCode == 0, backup.Error);
        var restore = await M2mAsync("restore", "-i", archive, "--data-dir", restored.Path);
        Assert.True(restore.ExitCode == 0, restore.Error);
        Assert.True(File.Exists(Path.Combine(restored.Path, "db", "CURRENT")));
    }

    [Fact]
    public async Task Domains_and_users_are_managed_and_the_new_user_can_sign_in()
    {
        using var data = new TempDirectory("m2m-cli");
        await using var server = await InProcessServer.StartAsync(data.Path);
        var token = await LoginAsync(server.Http);
        string[] auth = ["--server", server.Http.ToString(), "--token", token];

        Assert.Equal(0, (await M2mAsync(["domains", "create", "fleet-a", .. auth])).ExitCode);
        var created = await M2mWithInputAsync("dana-password-1\n", ["users", "create", "dana.ops", "--domain", "fleet-a", .. auth]);
        Assert.True(created.ExitCode == 0, created.Error);
        var users = await M2mAsync(["users", "list", .. auth]);
        Assert.Contains(JsonDocument.Parse(users.Output).RootElement.EnumerateArray(), u => u.GetProperty("name").GetString() == "dana.ops" && u.GetProperty("domain").GetString() == "fleet-a");
        var login = await M2mWithInputAsync("dana-password-1\n", "login", "--server", server.Http.ToString(), "--user", "dana.ops");
        Assert.True(login.ExitCode == 0, login.Error);

        Assert.Equal(0, (await M2mWithInputAsync("dana-password-2\n", ["users", "set-password", "dana.ops", .. auth])).ExitCode);
        Assert.Equal(1, (await M2mWithInputAsync("dana-password-1\n", "login", "--server", server.Http.ToString(), "--user", "dana.ops")).ExitCode);
        Assert.Equal(0, (await M2mAsync(["users", "delete", "dana.ops", .. auth])).ExitCode);
        Assert.Equal(0, (await M2mAsync(["domains", "delete", "fleet-a", .. auth])).ExitCode);
        var domains = await M2mAsync(["domains", "list", .. auth]);
        Assert.DoesNotContain("fleet-a", domains.Output, StringComparison.Ordinal);
        var missing = await M2mAsync(["users", "delete", "nobody.here", .. auth]);
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("nobody.here", missing.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Retention_and_cleanup_run_on_demand_and_report_their_last_run()
    {
        using var data = new TempDirectory("m2m-cli");
        await using var server = await InProcessServer.StartAsync(data.Path);
        var token = await LoginAsync(server.Http);
        string[] auth = ["--server", server.Http.ToString(), "--token", token];

        foreach (var job in new[] { "retention", "cleanup" })
        {
            var run = await M2mAsync([job, "run", .. auth]);
            Assert.True(run.ExitCode == 0, run.Error);
            var report = JsonDocument.Parse(run.Output).RootElement;
            Assert.Equal("api", report.GetProperty("trigger").GetString());

            var status = await M2mAsync([job, "status", .. auth]);
            Assert.True(status.ExitCode == 0, status.Error);
            var lastRun = JsonDocument.Parse(status.Output).RootElement.GetProperty("lastRun");
            Assert.Equal(report.GetProperty("startedAt").GetDateTimeOffset(), lastRun.GetProperty("startedAt").GetDateTimeOffset());
        }
        var anonymous = await M2mAsync("retention", "run", "--server", server.Http.ToString(), "--token", "not-a-token");
        Assert.Equal(1, anonymous.ExitCode);
    }

    [Fact]
    public async Task A_registry_subtree_is_exported_and_imported_under_another_path()
    {
        using var data = new TempDirectory("m2m-cli");
        using var files = new TempDirectory("m2m-cli-files");
        await using var server = await InProcessServer.StartAsync(data.Path);
        var token = await LoginAsync(server.Http);
        string[] auth = ["--server", server.Http.ToString(), "--token", token];
        using var admin = await Api.SignInAsync(server.Http);
        Assert.Equal(HttpStatusCode.OK, (await admin.PutAsync("/api/registry/ops/source/child/", System.Net.Http.Json.JsonContent.Create(new Dictionary<string, string> { ["colour"] = "blue" }), Ct)).StatusCode);
        var file = Path.Combine(files.Path, "subtree.json");

        var export = await M2mAsync(["registry", "export", "/ops/source/", "--output", file, .. auth]);
        Assert.True(export.ExitCode == 0, export.Error);
        var import = await M2mAsync(["registry", "import", "/ops/copy/", "--input", file, .. auth]);
        Assert.True(import.ExitCode == 0, import.Error);

        var copied = await Api.GetAsync(admin, "/api/registry/ops/copy/child/");
        Assert.Equal("blue", copied.GetProperty("values").GetProperty("colour").GetString());
        var bad = Path.Combine(files.Path, "bad.json");
        await File.WriteAllTextAsync(bad, "[1,2,3]", Ct);
        var refused = await M2mAsync(["registry", "import", "/ops/copy/", "--input", bad, .. auth]);
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("400", refused.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Device_import_reports_every_line_and_creates_the_good_ones()
    {
        using var data = new TempDirectory("m2m-cli");
        using var files = new TempDirectory("m2m-cli-files");
        await using var server = await InProcessServer.StartAsync(data.Path);
        var token = await LoginAsync(server.Http);
        string[] auth = ["--server", server.Http.ToString(), "--token", token];
        var csv = Path.Combine(files.Path, "devices.csv");
        await File.WriteAllTextAsync(csv, string.Join('\n',
            "ident,display_name,domain,secret",
            "imei:100000000000001,\"Truck 1, north\",default,",
            "imei:100000000000002,Truck 2,,chosen-secret-Kx7-Qp2-Zm9-Wv4",
            "imei:100000000000001,duplicate,default,",
            "imei:100000000000003,Truck 3,no-such-domain,",
            "imei:100000000000004,too,many,fields,here",
            ",no ident,default,",
            "") , Ct);

        var run = await M2mAsync(["devices", "import", csv, .. auth]);

        Assert.Equal(1, run.ExitCode);
        var lines = run.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("line 2: created imei:100000000000001 ", lines[0], StringComparison.Ordinal);
        // No secret in the file: the server generated one, and this line is its only appearance.
        var generated = System.Text.RegularExpressions.Regex.Match(lines[0], " secret ([A-Za-z0-9_-]{43})$");
        Assert.True(generated.Success, lines[0]);
        Assert.StartsWith("line 3: created imei:100000000000002 ", lines[1], StringComparison.Ordinal);
        Assert.DoesNotContain("secret", lines[1], StringComparison.Ordinal);
        Assert.StartsWith("line 4: error imei:100000000000001: 409", lines[2], StringComparison.Ordinal);
        Assert.StartsWith("line 5: error imei:100000000000003: 400", lines[3], StringComparison.Ordinal);
        Assert.Contains("domain", lines[3], StringComparison.Ordinal);
        Assert.StartsWith("line 6: error: 5 fields", lines[4], StringComparison.Ordinal);
        Assert.StartsWith("line 7: error : 400", lines[5], StringComparison.Ordinal);
        Assert.Equal("2 created, 4 failed", lines[6].Trim());
        using var admin = await Api.SignInAsync(server.Http);
        var truck = await Api.GetAsync(admin, "/api/devices/by-ident/imei:100000000000001");
        Assert.Equal("Truck 1, north", truck.GetProperty("displayName").GetString());

        // Both imported devices identify with their secret (the reported one, the file's one).
        await using (var one = await AlipDevice.ConnectAsync(server.Alip, "imei:100000000000001", generated.Groups[1].Value))
        {
            await one.SendRecordsAsync(1);
        }
        await using (var two = await AlipDevice.ConnectAsync(server.Alip, "imei:100000000000002", "chosen-secret-Kx7-Qp2-Zm9-Wv4"))
        {
            await two.SendRecordsAsync(1);
        }
    }

    [Fact]
    public async Task Commands_without_a_token_or_against_no_server_fail_with_a_reason()
    {
        var noToken = await M2mAsync("users", "list", "--server", "http://127.0.0.1:1");
        Assert.Equal(1, noToken.ExitCode);
        Assert.Contains("--token", noToken.Error, StringComparison.Ordinal);

        var noServer = await M2mAsync("users", "list", "--server", "http://127.0.0.1:1", "--token", "x");
        Assert.Equal(1, noServer.ExitCode);
        Assert.Contains("Cannot reach", noServer.Error, StringComparison.Ordinal);

        var usage = await M2mAsync("backup");
        Assert.Equal(1, usage.ExitCode);
    }
}
