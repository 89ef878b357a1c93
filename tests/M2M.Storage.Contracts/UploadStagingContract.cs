using M2M.Storage.Entities;
using M2M.Storage.Files;
using M2M.Storage.Registry;

namespace M2M.Storage.Contracts;

/// <summary>
/// Removal of the uploads a failed or killed request left behind (<see cref="UploadStaging"/>, which is
/// engine-neutral), on every backend's registry and file store.
/// </summary>
public abstract class UploadStagingContract : EntityContract
{

    /// <summary>A staged file as a killed upload leaves it: created, some blocks written, never moved.</summary>
    private async Task<RegistryPath> LeftOverStagedFileAsync()
    {
        var path = UploadStaging.Folder.Child(Guid.NewGuid().ToString("N"));
        var stream = await Stores.Files.CreateAsync(path, "big.bin", "application/octet-stream", cancellationToken: Ct);
        await stream.WriteAsync(new byte[700_000], Ct);
        await stream.FlushAsync(Ct);
        // Not disposed: the process died while writing.
        return path;
    }

    /// <summary>A firmware version as a killed upload leaves it: its node, and a file never completed.</summary>
    private async Task<RegistryPath> LeftOverFirmwareAsync()
    {
        var version = EntityPaths.Firmware.Child(Guid.NewGuid().ToString("D"));
        await Stores.Registry.CreateAsync(version, new Dictionary<string, string> { ["name"] = "fw.bin" }, Ct);
        var stream = await Stores.Files.CreateAsync(version.Child("file"), "fw.bin", "application/octet-stream", cancellationToken: Ct);
        await stream.WriteAsync(new byte[1000], Ct);
        await stream.FlushAsync(Ct);
        return version;
    }

    [Fact]
    public async Task Sweep_removes_staged_files_and_never_completed_firmware_versions()
    {
        var staging = new UploadStaging(Stores.Registry);
        var staged = await LeftOverStagedFileAsync();
        var firmware = await LeftOverFirmwareAsync();
        await using (var content = new MemoryStream([1, 2, 3]))
        {
            await Stores.Firmware.StoreAsync("kept.bin", content, cancellationToken: Ct);
        }

        Assert.Equal(2, await staging.SweepAsync(Ct));

        Assert.Null(await Stores.Files.GetInfoAsync(staged, Ct));
        Assert.Empty(await Stores.Registry.GetChildrenAsync(UploadStaging.Folder, includeHidden: true, Ct));
        Assert.NotEqual(RegistryNodeStatus.Created, await Stores.Registry.GetStatusAsync(firmware, Ct));
        Assert.NotNull(await Stores.Firmware.FindByNameAsync("kept.bin", Ct));
        Assert.Equal(0, await staging.SweepAsync(Ct));
    }

    [Fact]
    public async Task Sweep_keeps_uploads_in_progress()
    {
        var staging = new UploadStaging(Stores.Registry);
        await using var upload = staging.Begin();
        await using (var stream = await Stores.Files.CreateAsync(upload.Path, "f", "x/y", cancellationToken: Ct))
        {
            await stream.WriteAsync(new byte[10], Ct);
        }
        var firmware = await LeftOverFirmwareAsync();
        await using var firmwareUpload = staging.Track(firmware);

        Assert.Equal(0, await staging.SweepAsync(Ct));

        Assert.NotNull(await Stores.Files.GetInfoAsync(upload.Path, Ct));
        Assert.Equal(RegistryNodeStatus.Created, await Stores.Registry.GetStatusAsync(firmware, Ct));
    }

    [Fact]
    public async Task An_upload_ended_without_completing_is_removed_and_a_completed_one_is_kept()
    {
        var staging = new UploadStaging(Stores.Registry);
        RegistryPath failed, completed;
        await using (var upload = staging.Begin())
        {
            failed = upload.Path;
            await (await Stores.Files.CreateAsync(failed, "f", "x/y", cancellationToken: Ct)).DisposeAsync();
        }
        await using (var upload = staging.Begin())
        {
            completed = upload.Path;
            await (await Stores.Files.CreateAsync(completed, "f", "x/y", cancellationToken: Ct)).DisposeAsync();
            upload.Complete();
        }

        Assert.Null(await Stores.Files.GetInfoAsync(failed, Ct));
        Assert.NotNull(await Stores.Files.GetInfoAsync(completed, Ct));
        Assert.False(staging.IsInProgress(completed));
    }

    [Fact]
    public async Task A_firmware_upload_that_fails_removes_its_version()
    {
        var staging = new UploadStaging(Stores.Registry);
        var firmware = new FirmwareStore(Stores.Registry, Stores.Files, Time, staging);

        await Assert.ThrowsAsync<IOException>(() => firmware.StoreAsync("broken.bin", new FailingStream(), cancellationToken: Ct).AsTask());

        var versions = (await Stores.Registry.GetChildrenAsync(EntityPaths.Firmware, includeHidden: true, Ct)).Where(n => Guid.TryParse(n, out _)).ToList();
        foreach (var version in versions)
        {
            Assert.NotEqual(RegistryNodeStatus.Created, await Stores.Registry.GetStatusAsync(EntityPaths.Firmware.Child(version), Ct));
        }
        Assert.Null(await firmware.FindByNameAsync("broken.bin", Ct));
    }

    /// <summary>A request body that breaks after some bytes.</summary>
    private sealed class FailingStream() : MemoryStream(new byte[600_000], writable: false)
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Position >= 300_000 ? throw new IOException("client gone") : base.ReadAsync(buffer[..Math.Min(buffer.Length, 300_000 - (int)Position)], cancellationToken);

        public override int Read(byte[] buffer, int offset, int count) =>
            Position >= 300_000 ? throw new IOException("client gone") : base.Read(buffer, offset, Math.Min(count, 300_000 - (int)Position));
    }
}
