using M2M.Storage.Entities;

namespace M2M.Storage.Tests;

public sealed class IdTests
{
    [Fact]
    public void Name_based_ids_follow_uuid_version_5()
    {
        // RFC 9562 appendix A.4: DNS namespace, "www.example.com".
        var dns = Guid.Parse("6ba7b810-9dad-11d1-80b4-00c04fd430c8");
        Assert.Equal(Guid.Parse("2ed6657d-e927-568b-95e1-2665a8aea6a2"), DeviceIds.NameBased(dns, "www.example.com"));
    }

    [Fact]
    public void A_device_id_depends_only_on_the_ident()
    {
        var id = DeviceIds.FromIdent("imei:35412345678");
        Assert.Equal(id, DeviceIds.FromIdent("imei:35412345678"));
        Assert.NotEqual(id, DeviceIds.FromIdent("imei:35412345679"));
        Assert.Equal(5, id.Version);
    }

    [Fact]
    public void Command_ids_increase_strictly_even_within_one_millisecond_or_when_the_clock_goes_back()
    {
        var now = DateTimeOffset.UtcNow;
        var ids = Enumerable.Range(0, 5000).Select(i => CommandIds.Next(i == 4000 ? now.AddMinutes(-1) : now)).ToList();

        Assert.Equal(ids.Order(StringComparer.Ordinal), ids);
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.All(ids, id => Assert.True(CommandIds.IsValid(id)));
        Assert.Equal(7, Guid.Parse(ids[0]).Version);
    }
}
