using M2M.Storage.Entities;
using M2M.Storage.Files;

namespace M2M.Storage.Contracts;

/// <summary>The behaviour every backend must have for device credentials and domain device policies (<see cref="DeviceAuthStore"/> over its registry).</summary>
public abstract class DeviceAuthStoreContract : EntityContract
{
    private IDeviceAuthStore Auth => field ??= new DeviceAuthStore(Stores.Registry, Time);

    private const string Thumbprint = "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789";

    [Fact]
    public async Task A_device_created_with_credentials_has_them_from_its_first_read()
    {
        var hash = DeviceSecrets.Hash(DeviceSecrets.Generate());
        var device = await Stores.Devices.CreateAsync("imei:1234", null, null, new DeviceCredentialSeed(hash, [Thumbprint.ToUpperInvariant()]), Ct);

        var credentials = await Auth.GetCredentialsAsync(device.Id, Ct);
        Assert.Equal(hash, credentials.SecretHash);
        Assert.Equal(Time.GetUtcNow().ToUnixTimeMilliseconds(), credentials.SecretSetAt!.Value.ToUnixTimeMilliseconds());
        Assert.Equal([Thumbprint], credentials.Certificates.Select(c => c.Thumbprint));
        Assert.False(credentials.IsEmpty);
        // Hidden from the ordinary listing of the device node.
        Assert.DoesNotContain(".credentials", await Stores.Registry.GetChildrenAsync(EntityPaths.Device(device.Id), cancellationToken: Ct));
    }

    [Fact]
    public async Task A_device_without_credentials_has_none_and_gets_and_loses_them()
    {
        var device = await Stores.Devices.CreateAsync("imei:5678", cancellationToken: Ct);
        Assert.True((await Auth.GetCredentialsAsync(device.Id, Ct)).IsEmpty);

        await Auth.SetSecretHashAsync(device.Id, "hs256$a$b", Ct);
        Assert.True(await Auth.AddCertificateAsync(device.Id, Thumbprint, Ct));
        Assert.False(await Auth.AddCertificateAsync(device.Id, Thumbprint, Ct));
        var set = await Auth.GetCredentialsAsync(device.Id, Ct);
        Assert.True(set.HasSecret);
        Assert.True(set.HasCertificate(Thumbprint));

        Assert.True(await Auth.ClearSecretAsync(device.Id, Ct));
        Assert.False(await Auth.ClearSecretAsync(device.Id, Ct));
        Assert.True(await Auth.RemoveCertificateAsync(device.Id, Thumbprint.ToUpperInvariant(), Ct));
        Assert.False(await Auth.RemoveCertificateAsync(device.Id, Thumbprint, Ct));
        Assert.True((await Auth.GetCredentialsAsync(device.Id, Ct)).IsEmpty);
    }

    [Fact]
    public async Task Credentials_of_an_unknown_or_deleted_device_are_not_found_and_bad_thumbprints_are_refused()
    {
        var device = await Stores.Devices.CreateAsync("imei:9999", cancellationToken: Ct);
        await Assert.ThrowsAsync<ArgumentException>(() => Auth.AddCertificateAsync(device.Id, "not-hex", Ct).AsTask());
        for (var i = 0; i < DeviceCertificates.MaxPerDevice; i++)
        {
            await Auth.AddCertificateAsync(device.Id, i.ToString("x64", System.Globalization.CultureInfo.InvariantCulture), Ct);
        }
        await Assert.ThrowsAsync<ArgumentException>(() => Auth.AddCertificateAsync(device.Id, Thumbprint, Ct).AsTask());

        await Stores.Devices.DeleteAsync(device.Id, Ct);
        await Assert.ThrowsAsync<EntityNotFoundException>(() => Auth.GetCredentialsAsync(device.Id, Ct).AsTask());
        await Assert.ThrowsAsync<EntityNotFoundException>(() => Auth.SetSecretHashAsync(Guid.NewGuid(), "hs256$a$b", Ct).AsTask());
    }

    [Fact]
    public async Task A_domain_policy_is_stored_field_by_field_and_null_fields_inherit()
    {
        var domain = await Stores.Domains.CreateAsync("acme", Ct);
        Assert.Equal(DomainDevicePolicy.Inherit, await Auth.GetDomainPolicyAsync(domain.Id, Ct));

        await Auth.SetDomainPolicyAsync(domain.Id, new DomainDevicePolicy(DeviceAuthRequirement.Either, true, ["acme:*", "sn:????"], 12), Ct);
        var stored = await Auth.GetDomainPolicyAsync(domain.Id, Ct);
        Assert.Equal(DeviceAuthRequirement.Either, stored.Require);
        Assert.True(stored.AutoRegister);
        Assert.Equal(["acme:*", "sn:????"], stored.AutoRegisterPatterns);
        Assert.Equal(12, stored.AutoRegisterPerMinute);

        await Auth.SetDomainPolicyAsync(domain.Id, new DomainDevicePolicy(Require: DeviceAuthRequirement.Secret, AutoRegisterPatterns: []), Ct);
        stored = await Auth.GetDomainPolicyAsync(domain.Id, Ct);
        Assert.Equal(DeviceAuthRequirement.Secret, stored.Require);
        Assert.Null(stored.AutoRegister);
        Assert.Equal([], stored.AutoRegisterPatterns);
        Assert.Null(stored.AutoRegisterPerMinute);

        await Assert.ThrowsAsync<ArgumentException>(() => Auth.SetDomainPolicyAsync(domain.Id, new DomainDevicePolicy(AutoRegisterPatterns: ["a b"]), Ct).AsTask());
        await Assert.ThrowsAsync<EntityNotFoundException>(() => Auth.SetDomainPolicyAsync(Guid.NewGuid(), DomainDevicePolicy.Inherit, Ct).AsTask());
        Assert.Equal(DomainDevicePolicy.Inherit, await Auth.GetDomainPolicyAsync(Guid.NewGuid(), Ct));
    }
}

/// <summary>The behaviour every backend must have for the domains a firmware is given to.</summary>
public abstract class FirmwareAccessContract : EntityContract
{
    private IFirmwareStore Firmware => Stores.Firmware;

    [Fact]
    public async Task A_firmware_is_nobodys_until_given_and_its_list_outlives_new_versions_but_not_the_name()
    {
        var a = Guid.NewGuid();
        var b = Guid.NewGuid();
        await Firmware.StoreAsync("fw.bin", new MemoryStream([1]), cancellationToken: Ct);
        var initial = await Firmware.GetAccessAsync("fw.bin", Ct);
        Assert.False(initial!.AllDomains);
        Assert.Empty(initial.DomainIds);
        Assert.Null(await Firmware.FindForDomainAsync("fw.bin", a, Ct));

        Assert.True(await Firmware.SetAccessAsync("fw.bin", new FirmwareAccess(false, [a]), Ct));
        Assert.NotNull(await Firmware.FindForDomainAsync("fw.bin", a, Ct));
        Assert.Null(await Firmware.FindForDomainAsync("fw.bin", b, Ct));

        var v2 = await Firmware.StoreAsync("fw.bin", new MemoryStream([2, 2]), cancellationToken: Ct);
        Assert.Equal(v2, await Firmware.FindForDomainAsync("fw.bin", a, Ct));

        Assert.True(await Firmware.SetAccessAsync("fw.bin", new FirmwareAccess(false, [b]), Ct));
        Assert.Equal([b], (await Firmware.GetAccessAsync("fw.bin", Ct))!.DomainIds);
        Assert.Null(await Firmware.FindForDomainAsync("fw.bin", a, Ct));
        Assert.True(await Firmware.SetAccessAsync("fw.bin", new FirmwareAccess(true, []), Ct));
        Assert.NotNull(await Firmware.FindForDomainAsync("fw.bin", a, Ct));

        Assert.True(await Firmware.DeleteAsync("fw.bin", Ct));
        Assert.Null(await Firmware.GetAccessAsync("fw.bin", Ct));
        Assert.False(await Firmware.SetAccessAsync("fw.bin", new FirmwareAccess(true, []), Ct));
        await Firmware.StoreAsync("fw.bin", new MemoryStream([3]), cancellationToken: Ct);
        Assert.Null(await Firmware.FindForDomainAsync("fw.bin", a, Ct));
    }
}
