using M2M.Storage.Entities;

namespace M2M.Storage.Contracts;

/// <summary>The behaviour every <see cref="IDomainStore"/> backend must have.</summary>
public abstract class DomainStoreContract : EntityContract
{
    private IDomainStore Domains => Stores.Domains;

    [Fact]
    public async Task The_default_domain_is_created_once()
    {
        var first = await Domains.EnsureDefaultAsync(Ct);
        var second = await Domains.EnsureDefaultAsync(Ct);

        Assert.Equal(first, second);
        Assert.Equal("default", first.Name);
        Assert.Equal(first, await Domains.GetByNameAsync("default", Ct));
    }

    [Fact]
    public async Task A_created_domain_is_found_by_id_and_name_and_listed_by_name()
    {
        var beta = await Domains.CreateAsync("beta", Ct);
        var alpha = await Domains.CreateAsync("alpha.fleet-1", Ct);

        Assert.Equal(beta, await Domains.GetAsync(beta.Id, Ct));
        Assert.Equal(alpha, await Domains.GetByNameAsync("alpha.fleet-1", Ct));
        Assert.Equal(Time.GetUtcNow(), beta.CreatedAt);
        Assert.Equal(["alpha.fleet-1", "beta"], (await Domains.ListAsync(Ct)).Select(d => d.Name));
        Assert.Null(await Domains.GetAsync(Guid.NewGuid(), Ct));
        Assert.Null(await Domains.GetByNameAsync("gamma", Ct));
    }

    [Fact]
    public async Task Domain_names_are_unique()
    {
        await Domains.CreateAsync("acme", Ct);
        var error = await Assert.ThrowsAsync<DuplicateNameException>(() => Domains.CreateAsync("acme", Ct).AsTask());
        Assert.Equal("acme", error.Name);
    }

    [Theory]
    [InlineData("")]
    [InlineData("Upper")]
    [InlineData("-lead")]
    [InlineData("with space")]
    [InlineData("slash/inside")]
    [InlineData("0123456789012345678901234567890123456789012345678901234567890123")]
    public async Task Invalid_domain_names_are_refused(string name)
        => await Assert.ThrowsAsync<InvalidDomainNameException>(() => Domains.CreateAsync(name, Ct).AsTask());

    [Fact]
    public async Task Renaming_moves_the_unique_name()
    {
        var domain = await Domains.CreateAsync("old", Ct);
        await Domains.CreateAsync("taken", Ct);

        var renamed = await Domains.RenameAsync(domain.Id, "new", Ct);

        Assert.Equal("new", renamed.Name);
        Assert.Null(await Domains.GetByNameAsync("old", Ct));
        Assert.Equal(domain.Id, (await Domains.GetByNameAsync("new", Ct))!.Id);
        await Assert.ThrowsAsync<DuplicateNameException>(() => Domains.RenameAsync(domain.Id, "taken", Ct).AsTask());
        await Assert.ThrowsAsync<EntityNotFoundException>(() => Domains.RenameAsync(Guid.NewGuid(), "other", Ct).AsTask());
        var reused = await Domains.CreateAsync("old", Ct);
        Assert.NotEqual(domain.Id, reused.Id);
    }

    [Fact]
    public async Task The_default_domain_cannot_be_renamed_or_deleted()
    {
        var main = await Domains.EnsureDefaultAsync(Ct);
        await Assert.ThrowsAsync<EntityInUseException>(() => Domains.RenameAsync(main.Id, "other", Ct).AsTask());
        await Assert.ThrowsAsync<EntityInUseException>(() => Domains.DeleteAsync(main.Id, Ct).AsTask());
    }

    [Fact]
    public async Task Only_an_empty_domain_can_be_deleted_and_its_name_is_freed()
    {
        var used = await Domains.CreateAsync("used", Ct);
        var empty = await Domains.CreateAsync("empty", Ct);
        var device = await Stores.Devices.CreateAsync("imei:1111", domainId: used.Id, cancellationToken: Ct);

        await Assert.ThrowsAsync<EntityInUseException>(() => Domains.DeleteAsync(used.Id, Ct).AsTask());
        Assert.Equal([device.Id], await Domains.GetDeviceIdsAsync(used.Id, Ct));
        Assert.True(await Domains.DeleteAsync(empty.Id, Ct));
        Assert.False(await Domains.DeleteAsync(empty.Id, Ct));

        Assert.Null(await Domains.GetAsync(empty.Id, Ct));
        Assert.Null(await Domains.GetByNameAsync("empty", Ct));
        await Domains.CreateAsync("empty", Ct);
        await Assert.ThrowsAsync<EntityNotFoundException>(() => Domains.GetDeviceIdsAsync(empty.Id, Ct).AsTask());
    }

    [Fact]
    public async Task A_domain_lists_its_users()
    {
        var domain = await Domains.CreateAsync("team", Ct);
        var user = await Stores.Users.CreateAsync("alice", "pw-alice-1", domainId: domain.Id, cancellationToken: Ct);

        Assert.Equal([user.Id], await Domains.GetUserIdsAsync(domain.Id, Ct));
        await Assert.ThrowsAsync<EntityInUseException>(() => Domains.DeleteAsync(domain.Id, Ct).AsTask());
    }
}
