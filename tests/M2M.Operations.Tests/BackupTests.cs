using System.Net;
using System.Net.Http.Headers;
using M2M.Storage.Backup;
using M2M.Storage.Rocks;
using M2M.Testing;

namespace M2M.Operations.Tests;

/// <summary>Backup of a running server under load, restore into a fresh data directory, and the refusals.</summary>
public sealed class BackupTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_backup_taken_under_load_restores_every_record_acknowledged_before_it_started()
    {
        using var data = new TempDirectory("m2m-backup-src");
        using var restored = new TempDirectory("m2m-backup-dst");
        using var archiveDir = new TempDirectory("m2m-backup-file");
        var archive = Path.Combine(archiveDir.Path, "backup.tar.gz");
        string ident;
        int acknowledgedBeforeBackup;
        List<(string, DateTimeOffset)> original;
        string token;

        await using (var server = await InProcessServer.StartAsync(data.Path))
        {
            using var admin = await Api.SignInAsync(server.Http);
            token = admin.DefaultRequestHeaders.Authorization!.Parameter!;
            await using var device = await AlipDevice.ConnectAsync(server.Alip);
            ident = device.Ident;
            var acknowledged = 0;
            using var stopLoad = new CancellationTokenSource();
            // The load: batches of 200 records, each acknowledged by its barrier, until told to stop.
            var load = Task.Run(async () =>
            {
                while (!stopLoad.IsCancellationRequested)
                {
                    await device.SendRecordsAsync(200, Volatile.Read(ref acknowledged));
                    Interlocked.Add(ref acknowledged, 200);
                }
            }, Ct);
            await WebhookReceiver.WaitForAsync(() => Volatile.Read(ref acknowledged) >= 1000, "load before the backup");

            acknowledgedBeforeBackup = Volatile.Read(ref acknowledged);
            using (var response = await admin.PostAsync("/api/backup", null, Ct))
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.Equal("application/gzip", response.Content.Headers.ContentType?.MediaType);
                await using var file = File.Create(archive);
                await response.Content.CopyToAsync(file, Ct);
            }
            await WebhookReceiver.WaitForAsync(() => Volatile.Read(ref acknowledged) >= acknowledgedBeforeBackup + 400, "load going on after the backup");
            await stopLoad.CancelAsync();
            await load;
            original = await RecordsAsync(admin, ident);
        }
        Assert.True(original.Count > acknowledgedBeforeBackup);

        await using (var input = File.OpenRead(archive))
        {
            var manifest = await RocksBackup.RestoreAsync(input, restored.Path, Ct);
            Assert.Equal("rocks", manifest.Backend);
        }
        Assert.True(File.Exists(Path.Combine(restored.Path, "api-signing.key")));

        await using (var server = await InProcessServer.StartAsync(restored.Path))
        {
            // The signing key came back with the data: a token of the original server still works.
            using var client = new HttpClient { BaseAddress = server.Http };
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
            var back = await RecordsAsync(client, ident);
            // One device, one connection: records are stored in the order they were sent, so the
            // acknowledged ones are the oldest acknowledgedBeforeBackup records.
            var mustHave = original.OrderBy(r => r.Item2).Take(acknowledgedBeforeBackup).ToList();
            Assert.Empty(mustHave.Except(back));
            Assert.True(back.Count <= original.Count);
        }
    }

    [Fact]
    public async Task A_restore_refuses_a_data_directory_that_is_not_empty()
    {
        using var data = new TempDirectory("m2m-backup-src");
        using var archiveDir = new TempDirectory("m2m-backup-file");
        var archive = Path.Combine(archiveDir.Path, "backup.tar.gz");
        await using (var server = await InProcessServer.StartAsync(data.Path))
        {
            using var admin = await Api.SignInAsync(server.Http);
            await using var file = File.Create(archive);
            await (await admin.PostAsync("/api/backup", null, Ct)).Content.CopyToAsync(file, Ct);
        }

        await using var input = File.OpenRead(archive);
        var error = await Assert.ThrowsAsync<BackupException>(() => RocksBackup.RestoreAsync(input, data.Path, Ct));

        Assert.Contains("not empty", error.Message, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(data.Path, "db", "CURRENT")));
    }

    [Fact]
    public async Task A_file_that_is_not_a_backup_is_refused_and_leaves_nothing_behind()
    {
        using var target = new TempDirectory("m2m-backup-dst");
        using var input = new MemoryStream("this is not an archive"u8.ToArray());

        await Assert.ThrowsAsync<BackupException>(() => RocksBackup.RestoreAsync(input, target.Path, Ct));

        Assert.Empty(Directory.EnumerateFileSystemEntries(target.Path));
    }

    [Theory]
    [InlineData("postgres", "CURRENT", "the 'postgres' backend")]
    [InlineData("rocks", "CURRENT", "does not open")]
    [InlineData("rocks", "OTHER", "no database")]
    public async Task A_backup_whose_database_cannot_be_restored_is_refused_and_leaves_nothing_behind(string backend, string file, string reason)
    {
        // A well-formed archive around a database that RocksDB cannot use (another backend's, a
        // damaged one, none): the check after extraction refuses it.
        using var source = new TempDirectory("m2m-backup-src");
        Directory.CreateDirectory(Path.Combine(source.Path, "db"));
        await File.WriteAllTextAsync(Path.Combine(source.Path, "db", file), "MANIFEST-000099\n", Ct);
        await File.WriteAllTextAsync(Path.Combine(source.Path, "api-signing.key"), "not a key", Ct);
        using var archive = new MemoryStream();
        var manifest = new BackupManifest(BackupArchive.LayoutVersion, backend, 1, DateTimeOffset.UtcNow, "test");
        await BackupArchive.WriteAsync(archive, manifest, Path.Combine(source.Path, "db"), source.Path, new HashSet<string> { "db" }, Ct);
        using var existing = new TempDirectory("m2m-backup-dst");
        using var parent = new TempDirectory("m2m-backup-dst");
        var missing = Path.Combine(parent.Path, "data");

        archive.Position = 0;
        var intoExisting = await Assert.ThrowsAsync<BackupException>(() => RocksBackup.RestoreAsync(archive, existing.Path, Ct));
        archive.Position = 0;
        await Assert.ThrowsAsync<BackupException>(() => RocksBackup.RestoreAsync(archive, missing, Ct));

        Assert.Contains(reason, intoExisting.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(existing.Path));
        Assert.False(Directory.Exists(missing));
    }

    [Fact]
    public async Task An_offline_backup_refuses_the_database_of_a_running_server()
    {
        using var data = new TempDirectory("m2m-backup-src");
        await using var server = await InProcessServer.StartAsync(data.Path);

        var error = await Assert.ThrowsAsync<BackupException>(() => RocksBackup.BackupOfflineAsync(data.Path, Stream.Null, Ct));

        Assert.Contains("in use", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Only_administrators_take_backups()
    {
        using var data = new TempDirectory("m2m-backup-src");
        await using var server = await InProcessServer.StartAsync(data.Path);
        using var admin = await Api.SignInAsync(server.Http);
        Assert.Equal(HttpStatusCode.Created, (await admin.PostAsync("/api/users", System.Net.Http.Json.JsonContent.Create(new { name = "carol.user", password = "carol-password-1", domain = "default" }), Ct)).StatusCode);
        using var carol = await Api.SignInAsync(server.Http, "carol.user", "carol-password-1");
        using var anonymous = new HttpClient { BaseAddress = server.Http };

        Assert.Equal(HttpStatusCode.Forbidden, (await carol.PostAsync("/api/backup", null, Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.PostAsync("/api/backup", null, Ct)).StatusCode);
    }

    private static async Task<List<(string, DateTimeOffset)>> RecordsAsync(HttpClient client, string ident)
    {
        var id = (await Api.GetAsync(client, $"/api/devices/by-ident/{Uri.EscapeDataString(ident)}")).GetProperty("id").GetString();
        var result = new List<(string, DateTimeOffset)>();
        string? cursor = null;
        do
        {
            var page = await Api.GetAsync(client, $"/api/devices/{id}/data?type=sen:temp&order=asc&limit=10000" + (cursor is null ? "" : $"&cursor={Uri.EscapeDataString(cursor)}"));
            result.AddRange(page.GetProperty("items").EnumerateArray().Select(r => (r.GetProperty("type").GetString()!, r.GetProperty("time").GetDateTimeOffset())));
            cursor = page.GetProperty("next").ValueKind == System.Text.Json.JsonValueKind.String ? page.GetProperty("next").GetString() : null;
        }
        while (cursor is not null);
        return result;
    }
}
