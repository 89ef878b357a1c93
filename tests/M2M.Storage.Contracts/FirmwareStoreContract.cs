using M2M.Storage.Entities;
using M2M.Storage.Files;
using M2M.Storage.Registry;

namespace M2M.Storage.Contracts;

/// <summary>The behaviour every <see cref="IFirmwareStore"/> backend must have.</summary>
public abstract class FirmwareStoreContract : EntityContract
{
    private IFirmwareStore Firmware => Stores.Firmware;

    private static MemoryStream Content(int size, int seed)
    {
        var bytes = new byte[size];
        new Random(seed).NextBytes(bytes);
        return new MemoryStream(bytes);
    }

    [Fact]
    public async Task Stored_firmware_is_found_by_name_and_read_back_from_any_offset()
    {
        using var content = Content(700_000, 1);
        var info = await Firmware.StoreAsync("tracker-2.1.bin", content, cancellationToken: Ct);

        Assert.Equal(info, await Firmware.FindByNameAsync("tracker-2.1.bin", Ct));
        Assert.Equal(700_000, info.Size);
        Assert.Equal(info.Id.ToString("D"), await Stores.Registry.GetValueAsync(EntityPaths.FirmwareByName.Child("tracker-2.1.bin"), "id", Ct));
        Assert.True((await Stores.Files.GetInfoAsync(EntityPaths.Firmware.Child(info.Id.ToString("D")).Child("file"), Ct))!.IsComplete);

        await using var stream = await Firmware.OpenReadAsync(info.Id, Ct);
        stream.Seek(600_000, SeekOrigin.Begin);
        var chunk = new byte[4096];
        stream.ReadExactly(chunk);
        Assert.Equal(content.ToArray().AsSpan(600_000, 4096).ToArray(), chunk);
    }

    [Fact]
    public async Task Storing_a_name_again_points_it_to_the_new_version()
    {
        using var v1 = Content(1000, 1);
        using var v2 = Content(2000, 2);
        var first = await Firmware.StoreAsync("fw", v1, cancellationToken: Ct);
        var second = await Firmware.StoreAsync("fw", v2, "application/x-fw", Ct);

        Assert.NotEqual(first.Id, second.Id);
        Assert.Equal(second, await Firmware.FindByNameAsync("fw", Ct));
        Assert.Equal("application/x-fw", second.ContentType);
        Assert.Null(await Firmware.GetAsync(first.Id, Ct));
        Assert.Equal([second], await Firmware.ListAsync(Ct));
    }

    [Fact]
    public async Task Names_with_slashes_and_dots_are_kept_as_given()
    {
        using var content = Content(10, 3);
        await Firmware.StoreAsync("../models/a.bin", content, cancellationToken: Ct);

        Assert.Equal("../models/a.bin", (await Firmware.FindByNameAsync("../models/a.bin", Ct))!.Name);
        Assert.Equal(["../models/a.bin"], (await Firmware.ListAsync(Ct)).Select(f => f.Name));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Firmware.FindByNameAsync("bad\nname", Ct).AsTask());
    }

    [Fact]
    public async Task Deleting_a_name_removes_the_firmware()
    {
        using var content = Content(10, 4);
        var info = await Firmware.StoreAsync("gone", content, cancellationToken: Ct);

        Assert.True(await Firmware.DeleteAsync("gone", Ct));
        Assert.False(await Firmware.DeleteAsync("gone", Ct));

        Assert.Null(await Firmware.FindByNameAsync("gone", Ct));
        Assert.Null(await Firmware.GetAsync(info.Id, Ct));
        await Assert.ThrowsAsync<StoredFileNotFoundException>(() => Firmware.OpenReadAsync(info.Id, Ct).AsTask());
        Assert.Equal(RegistryNodeStatus.Undefined, await Stores.Registry.GetStatusAsync(EntityPaths.Firmware.Child(info.Id.ToString("D")), Ct));
    }
}
