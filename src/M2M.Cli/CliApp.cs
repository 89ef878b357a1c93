using System.CommandLine;
using System.Text.Json;
using M2M.Storage.Backup;

namespace M2M.Cli;

/// <summary>
/// <c>m2m</c>: what an operator does from a shell, against a running server through its HTTP API
/// (<c>--server</c>, <c>--token</c> or <c>M2M_SERVER</c>, <c>M2M_TOKEN</c>: an access token or an API
/// key) or, for backup and restore, offline on a data directory (<c>--data-dir</c>).
/// Exit codes: 0 done, 1 failed (the reason on stderr), 2 bad usage.
/// </summary>
public static class CliApp
{
    private static readonly JsonSerializerOptions Pretty = new() { WriteIndented = true };

    public static Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, TextReader input, CancellationToken cancellationToken = default)
    {
        var context = new CliContext(output, error, input);
        var root = Build(context);
        var parsed = root.Parse(args);
        return parsed.InvokeAsync(new InvocationConfiguration { Output = output, Error = error }, cancellationToken);
    }

    private static RootCommand Build(CliContext c)
    {
        var root = new RootCommand("Administration of an M2M platform server: backup and restore, registry export and import, users, domains, webhooks, device import, retention and cleanup runs.");
        root.Options.Add(c.Server);
        root.Options.Add(c.Token);
        root.Subcommands.Add(Login(c));
        root.Subcommands.Add(Backup(c));
        root.Subcommands.Add(Restore(c));
        root.Subcommands.Add(Registry(c));
        root.Subcommands.Add(Domains(c));
        root.Subcommands.Add(Users(c));
        root.Subcommands.Add(Webhooks(c));
        root.Subcommands.Add(Devices(c));
        root.Subcommands.Add(Maintenance(c, "retention", "Retention of time series: settings, stored months, last run; run it now."));
        root.Subcommands.Add(Maintenance(c, "cleanup", "Registry cleanup of soft-deleted nodes: settings, last run; run it now."));
        return root;
    }

    private static Command Login(CliContext c)
    {
        var user = new Option<string>("--user") { Description = "User name.", Required = true };
        var command = new Command("login", "Sign in and print an access token (password from M2M_PASSWORD, else one line of standard input).") { user };
        command.SetAction((r, ct) => c.RunAsync(r, async client =>
        {
            var password = Environment.GetEnvironmentVariable("M2M_PASSWORD") ?? await c.Input.ReadLineAsync(ct) ?? throw new CliException("No password: set M2M_PASSWORD or write it on standard input.");
            var answer = await client!.PostAsync("/api/auth/token", new { user = r.GetValue(user), password }, ct);
            await c.Output.WriteLineAsync(answer.GetProperty("access_token").GetString());
        }, needsToken: false));
        return command;
    }

    private static Command Backup(CliContext c)
    {
        var output = new Option<FileInfo>("--output", "-o") { Description = "Archive to write (.tar.gz); it must not exist.", Required = true };
        var dataDir = new Option<DirectoryInfo?>("--data-dir") { Description = "Back up this data directory of a stopped server instead of asking the running server." };
        var command = new Command("backup", "A consistent backup (.tar.gz) of the embedded database and the data directory's keys: from the running server (POST /api/backup) or, with --data-dir, from a stopped one.") { output, dataDir };
        command.SetAction((r, ct) => c.RunAsync(r, async client =>
        {
            var target = r.GetValue(output)!;
            if (target.Exists)
            {
                throw new CliException($"{target.FullName} exists; a backup never overwrites a file.");
            }
            var partial = target.FullName + ".partial";
            try
            {
                await using (var file = new FileStream(partial, FileMode.CreateNew, FileAccess.Write))
                {
                    if (r.GetValue(dataDir) is { } directory)
                    {
                        await Storage.Rocks.RocksBackup.BackupOfflineAsync(directory.FullName, file, ct);
                    }
                    else
                    {
                        await client!.DownloadAsync(HttpMethod.Post, "/api/backup", file, ct);
                    }
                    await file.FlushAsync(ct);
                    file.Flush(flushToDisk: true);
                }
                File.Move(partial, target.FullName);
            }
            finally
            {
                File.Delete(partial);
            }
            await c.Output.WriteLineAsync($"{target.FullName}: {new FileInfo(target.FullName).Length} bytes");
        }, needsToken: r.GetValue(dataDir) is null, needsServer: r.GetValue(dataDir) is null));
        return command;
    }

    private static Command Restore(CliContext c)
    {
        var input = new Option<FileInfo>("--input", "-i") { Description = "Archive made by `m2m backup`.", Required = true };
        var dataDir = new Option<DirectoryInfo>("--data-dir") { Description = "Empty or missing data directory to restore into (never overwritten; start the server on it afterwards).", Required = true };
        var command = new Command("restore", "Restore a backup into an empty data directory (offline).") { input, dataDir };
        command.SetAction((r, ct) => c.RunAsync(r, async _ =>
        {
            await using var file = File.OpenRead(r.GetValue(input)!.FullName);
            var manifest = await Storage.Rocks.RocksBackup.RestoreAsync(file, r.GetValue(dataDir)!.FullName, ct);
            await c.Output.WriteLineAsync($"Restored the backup of {manifest.CreatedAt:u} (storage format {manifest.StorageFormat}) into {r.GetValue(dataDir)!.FullName}");
        }, needsToken: false, needsServer: false));
        return command;
    }

    private static Command Registry(CliContext c)
    {
        var path = new Argument<string>("path") { Description = "Registry path, e.g. /device/ or /domain/<id>/." };
        var output = new Option<FileInfo?>("--output", "-o") { Description = "File to write (default: standard output)." };
        var export = new Command("export", "Export a registry subtree as JSON.") { path, output };
        export.SetAction((r, ct) => c.RunAsync(r, async client =>
        {
            var json = await client!.GetAsync("/api/registry-export" + RegistryPath(r.GetValue(path)!), ct);
            var text = JsonSerializer.Serialize(json, Pretty);
            if (r.GetValue(output) is { } file)
            {
                await File.WriteAllTextAsync(file.FullName, text, ct);
            }
            else
            {
                await c.Output.WriteLineAsync(text);
            }
        }));

        var importPath = new Argument<string>("path") { Description = "Registry path to import under." };
        var input = new Option<FileInfo>("--input", "-i") { Description = "An export made by `m2m registry export`.", Required = true };
        var import = new Command("import", "Merge an export under a registry path (creates nodes, sets values, deletes nothing).") { importPath, input };
        import.SetAction((r, ct) => c.RunAsync(r, async client =>
        {
            var json = await File.ReadAllTextAsync(r.GetValue(input)!.FullName, ct);
            await client!.PostAsync("/api/registry-import" + RegistryPath(r.GetValue(importPath)!), json, ct);
            await c.Output.WriteLineAsync($"Imported under {r.GetValue(importPath)}");
        }));
        return new Command("registry", "Registry subtrees as JSON.") { export, import };
    }

    private static string RegistryPath(string path) => "/" + string.Join('/', path.Trim('/').Split('/', StringSplitOptions.RemoveEmptyEntries).Select(Uri.EscapeDataString));

    private static Command Domains(CliContext c)
    {
        var list = new Command("list", "Every domain.");
        list.SetAction((r, ct) => c.RunAsync(r, async client => await c.PrintAsync(await ListAllAsync(client!, "/api/domains", ct))));
        var name = new Argument<string>("name");
        var create = new Command("create", "Create a domain.") { name };
        create.SetAction((r, ct) => c.RunAsync(r, async client => await c.PrintAsync(await client!.PostAsync("/api/domains", new { name = r.GetValue(name) }, ct))));
        var deleteName = new Argument<string>("name");
        var delete = new Command("delete", "Delete an empty domain.") { deleteName };
        delete.SetAction((r, ct) => c.RunAsync(r, async client =>
        {
            var id = await FindIdAsync(client!, "/api/domains", r.GetValue(deleteName)!, ct);
            await client!.DeleteAsync($"/api/domains/{id}", ct);
            await c.Output.WriteLineAsync($"Deleted domain {r.GetValue(deleteName)}");
        }));
        return new Command("domains", "Domains.") { list, create, delete };
    }

    private static Command Users(CliContext c)
    {
        var list = new Command("list", "Every user.");
        list.SetAction((r, ct) => c.RunAsync(r, async client => await c.PrintAsync(await ListAllAsync(client!, "/api/users", ct))));

        var name = new Argument<string>("name");
        var domain = new Option<string>("--domain") { Description = "Domain name.", DefaultValueFactory = _ => "default" };
        var role = new Option<string?>("--role") { Description = "admin or user (default user)." };
        var displayName = new Option<string?>("--display-name");
        var create = new Command("create", "Create a user; the password is read from M2M_NEW_PASSWORD, else one line of standard input.") { name, domain, role, displayName };
        create.SetAction((r, ct) => c.RunAsync(r, async client =>
        {
            var password = await c.NewPasswordAsync(ct);
            await c.PrintAsync(await client!.PostAsync("/api/users", new { name = r.GetValue(name), password, domain = r.GetValue(domain), role = r.GetValue(role), displayName = r.GetValue(displayName) }, ct));
        }));

        var passwordName = new Argument<string>("name");
        var password = new Command("set-password", "Replace a user's password (from M2M_NEW_PASSWORD, else one line of standard input).") { passwordName };
        password.SetAction((r, ct) => c.RunAsync(r, async client =>
        {
            var id = await FindIdAsync(client!, "/api/users", r.GetValue(passwordName)!, ct);
            await client!.PutAsync($"/api/users/{id}/password", new { password = await c.NewPasswordAsync(ct) }, ct);
            await c.Output.WriteLineAsync($"Password of {r.GetValue(passwordName)} replaced");
        }));

        var deleteName = new Argument<string>("name");
        var delete = new Command("delete", "Delete a user.") { deleteName };
        delete.SetAction((r, ct) => c.RunAsync(r, async client =>
        {
            var id = await FindIdAsync(client!, "/api/users", r.GetValue(deleteName)!, ct);
            await client!.DeleteAsync($"/api/users/{id}", ct);
            await c.Output.WriteLineAsync($"Deleted user {r.GetValue(deleteName)}");
        }));
        return new Command("users", "Users.") { list, create, password, delete };
    }

    private static Command Webhooks(CliContext c)
    {
        var list = new Command("list", "Webhook endpoints and their delivery status.");
        list.SetAction((r, ct) => c.RunAsync(r, async client => await c.PrintAsync(await client!.GetAsync("/api/webhooks", ct))));

        var name = new Option<string>("--name") { Required = true };
        var url = new Option<string>("--url") { Required = true };
        var domain = new Option<string?>("--domain") { Description = "Domain name (default: the caller's; default for an administrator)." };
        var records = new Option<bool>("--records") { Description = "Forward records (default true).", DefaultValueFactory = _ => true };
        var events = new Option<bool>("--events") { Description = "Forward lifecycle records and device events." };
        var create = new Command("create", "Create an endpoint; prints its signing secret (shown once).") { name, url, domain, records, events };
        create.SetAction((r, ct) => c.RunAsync(r, async client => await c.PrintAsync(await client!.PostAsync("/api/webhooks",
            new { name = r.GetValue(name), url = r.GetValue(url), domain = r.GetValue(domain), records = r.GetValue(records), events = r.GetValue(events) }, ct))));

        var id = new Argument<Guid>("id");
        var delete = new Command("delete", "Delete an endpoint.") { id };
        delete.SetAction((r, ct) => c.RunAsync(r, async client =>
        {
            await client!.DeleteAsync($"/api/webhooks/{r.GetValue(id)}", ct);
            await c.Output.WriteLineAsync($"Deleted webhook {r.GetValue(id)}");
        }));
        return new Command("webhooks", "Forwarding endpoints.") { list, create, delete };
    }

    /// <summary><c>m2m retention|cleanup status|run</c>: the storage maintenance jobs (<c>/api/admin/{job}</c>, admin only).</summary>
    private static Command Maintenance(CliContext c, string job, string description)
    {
        var status = new Command("status", $"Settings and the report of the last {job} run.");
        status.SetAction((r, ct) => c.RunAsync(r, async client => await c.PrintAsync(await client!.GetAsync($"/api/admin/{job}", ct))));
        var run = new Command("run", $"Run {job} now and print its report (fails while another node runs it).");
        run.SetAction((r, ct) => c.RunAsync(r, async client => await c.PrintAsync(await client!.PostAsync($"/api/admin/{job}/run", null, ct))));
        return new Command(job, description) { status, run };
    }

    private static Command Devices(CliContext c)
    {
        var file = new Argument<FileInfo>("file") { Description = "CSV with a header line: ident (required), display_name, domain." };
        var domain = new Option<string?>("--domain") { Description = "Domain of lines without one (default: the caller's; default for an administrator)." };
        var import = new Command("import", "Create devices from a CSV file; one report line per data line (created, or the error); exit code 1 when any line failed.") { file, domain };
        import.SetAction((r, ct) => c.RunAsync(r, async client =>
        {
            var failed = await DeviceImport.RunAsync(client!, r.GetValue(file)!.FullName, r.GetValue(domain), c.Output, ct);
            if (failed > 0)
            {
                throw new CliException($"{failed} line(s) failed.");
            }
        }));
        return new Command("devices", "Devices.") { import };
    }

    private static async Task<List<JsonElement>> ListAllAsync(ServerClient client, string path, CancellationToken cancellationToken)
    {
        var items = new List<JsonElement>();
        string? cursor = null;
        do
        {
            var page = await client.GetAsync(path + "?limit=1000" + (cursor is null ? "" : "&cursor=" + Uri.EscapeDataString(cursor)), cancellationToken);
            items.AddRange(page.GetProperty("items").EnumerateArray());
            cursor = page.TryGetProperty("next", out var next) && next.ValueKind == JsonValueKind.String ? next.GetString() : null;
        }
        while (cursor is not null);
        return items;
    }

    private static async Task<string> FindIdAsync(ServerClient client, string path, string name, CancellationToken cancellationToken)
    {
        foreach (var item in await ListAllAsync(client, path, cancellationToken))
        {
            if (item.GetProperty("name").GetString() == name)
            {
                return item.GetProperty("id").GetString()!;
            }
        }
        throw new CliException($"No {path.Split('/')[^1].TrimEnd('s')} named '{name}'.");
    }

    /// <summary>Shared options and output of the commands.</summary>
    private sealed class CliContext(TextWriter output, TextWriter error, TextReader input)
    {
        public TextWriter Output { get; } = output;

        public TextReader Input { get; } = input;

        public Option<string?> Server { get; } = new("--server")
        {
            Description = "The server's HTTP address (default: M2M_SERVER, else http://localhost:5080).",
            Recursive = true,
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("M2M_SERVER"),
        };

        public Option<string?> Token { get; } = new("--token")
        {
            Description = "Access token or API key (default: M2M_TOKEN).",
            Recursive = true,
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("M2M_TOKEN"),
        };

        public async Task PrintAsync<T>(T value) => await Output.WriteLineAsync(JsonSerializer.Serialize(value, Pretty));

        public async Task<string> NewPasswordAsync(CancellationToken cancellationToken) =>
            Environment.GetEnvironmentVariable("M2M_NEW_PASSWORD") ?? await Input.ReadLineAsync(cancellationToken)
            ?? throw new CliException("No password: set M2M_NEW_PASSWORD or write it on standard input.");

        /// <summary>Runs a command body; failures become one line on stderr and exit code 1.</summary>
        public async Task<int> RunAsync(ParseResult result, Func<ServerClient?, Task> body, bool needsToken = true, bool needsServer = true)
        {
            ServerClient? client = null;
            try
            {
                if (needsServer)
                {
                    var server = result.GetValue(Server) is { Length: > 0 } text ? text : "http://localhost:5080";
                    if (!Uri.TryCreate(server, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
                    {
                        throw new CliException($"--server must be an http or https URL, not '{server}'.");
                    }
                    var token = result.GetValue(Token);
                    if (needsToken && string.IsNullOrEmpty(token))
                    {
                        throw new CliException("This command needs --token (or M2M_TOKEN): an access token (`m2m login`) or an API key.");
                    }
                    client = new ServerClient(uri, token);
                }
                await body(client);
                return 0;
            }
            catch (Exception e) when (e is CliException or BackupException or IOException or UnauthorizedAccessException or JsonException)
            {
                await error.WriteLineAsync($"m2m: {e.Message}");
                return 1;
            }
            finally
            {
                client?.Dispose();
            }
        }
    }
}
