using M2M.Storage.Files;
using M2M.Storage.Registry;
using M2M.Testing;
using static M2M.Api.Tests.Http;

namespace M2M.Api.Tests;

/// <summary>Uploads left behind by a killed or failed request are removed by the server, at start and periodically.</summary>
public sealed class StagedUploadSweepTests
{
    /// <summary>A staged file as a killed upload leaves it: created, blocks written, never moved in place.</summary>
    private static async Task<RegistryPath> LeaveStagedFileAsync(ApiHost host)
    {
        var path = UploadStaging.Folder.Child(Guid.NewGuid().ToString("N"));
        var stream = await host.Get<IFileStore>().CreateAsync(path, "big.bin", "application/octet-stream", cancellationToken: Ct);
        await stream.WriteAsync(new byte[600_000], Ct);
        await stream.FlushAsync(Ct);
        return path;
    }

    private static async Task<bool> IsGoneAsync(ApiHost host, RegistryPath path) =>
        await host.Get<IRegistry>().GetStatusAsync(path, Ct) != RegistryNodeStatus.Created;

    [Fact]
    public async Task Uploads_left_by_a_killed_request_are_removed_when_the_server_starts()
    {
        using var data = new TempDirectory("m2m-sweep");
        RegistryPath staged;
        await using (var first = await ApiHost.StartAsync(data))
        {
            staged = await LeaveStagedFileAsync(first);
        }

        await using var second = await ApiHost.StartAsync(data);

        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!await IsGoneAsync(second, staged))
        {
            Assert.True(DateTime.UtcNow < deadline, "The staged upload is still there 30 s after the start.");
            await Task.Delay(100, Ct);
        }
        Assert.Empty(await second.Get<IRegistry>().GetChildrenAsync(UploadStaging.Folder, includeHidden: true, Ct));
    }

    [Fact]
    public async Task Uploads_left_while_the_server_runs_are_removed_by_the_periodic_sweep()
    {
        using var data = new TempDirectory("m2m-sweep");
        await using var host = await ApiHost.StartAsync(data, "--M2M:Storage:StagedUploadSweepInterval", "00:00:01");
        var admin = await host.LoginAsync();

        var staged = await LeaveStagedFileAsync(host);
        // A real upload at the same time is not swept away.
        var put = await admin.PutAsync("/api/files/kept.bin", new ByteArrayContent(new byte[100_000]), Ct);

        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!await IsGoneAsync(host, staged))
        {
            Assert.True(DateTime.UtcNow < deadline, "The staged upload is still there 30 s later.");
            await Task.Delay(100, Ct);
        }
        Assert.Equal(System.Net.HttpStatusCode.Created, put.StatusCode);
        Assert.Equal(100_000, (await admin.GetByteArrayAsync("/api/files/kept.bin", Ct)).Length);
    }
}
