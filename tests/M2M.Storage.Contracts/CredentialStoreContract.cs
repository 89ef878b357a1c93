using M2M.Storage.Entities;

namespace M2M.Storage.Contracts;

/// <summary>
/// The behaviour every backend must give the stores of application credentials: API keys, refresh
/// token families, and the user's security stamp they depend on.
/// </summary>
public abstract class CredentialStoreContract : EntityContract
{
    private ApiKeyStore Keys => new(Stores.Registry, Stores.Domains, Time);

    private RefreshTokenStore Families => new(Stores.Registry);

    private async Task<ApiKey> CreateKeyAsync(string name = "app", string scope = ApiKeyScopes.Read, DateTimeOffset? expires = null)
    {
        var domain = await Stores.Domains.EnsureDefaultAsync(Ct);
        return await Keys.CreateAsync(new ApiKeyDraft(Guid.NewGuid(), name, domain.Id, scope, expires, Guid.NewGuid(), "hash-of-" + name), Ct);
    }

    [Fact]
    public async Task A_created_key_reads_back_with_its_values()
    {
        var expires = Time.GetUtcNow().AddDays(7);
        var key = await CreateKeyAsync("billing", ApiKeyScopes.Write, expires);

        var read = await Keys.GetAsync(key.Id, Ct);

        Assert.Equal(key, read);
        Assert.Equal(Time.GetUtcNow(), key.CreatedAt);
        Assert.Equal(expires, key.ExpiresAt);
        Assert.Equal([key], await Keys.ListAsync(Ct));
    }

    [Fact]
    public async Task A_revoked_key_is_gone_for_reads_and_its_use_is_not_recorded()
    {
        var key = await CreateKeyAsync();

        Assert.True(await Keys.RevokeAsync(key.Id, Ct));
        await Keys.RecordUseAsync(key.Id, Time.GetUtcNow(), Ct);

        Assert.Null(await Keys.GetAsync(key.Id, Ct));
        Assert.Empty(await Keys.ListAsync(Ct));
        Assert.False(await Keys.RevokeAsync(key.Id, Ct));
        Assert.Null(await Stores.Registry.GetValueAsync(ApiKeyStore.Path(key.Id), "last_used_date", Ct));
    }

    [Fact]
    public async Task Use_of_a_key_is_recorded()
    {
        var key = await CreateKeyAsync();
        Time.Advance(TimeSpan.FromMinutes(3));

        await Keys.RecordUseAsync(key.Id, Time.GetUtcNow(), Ct);

        Assert.Equal(Time.GetUtcNow(), (await Keys.GetAsync(key.Id, Ct))!.LastUsedAt);
    }

    [Theory]
    [InlineData("", ApiKeyScopes.Read)]
    [InlineData("line\nbreak", ApiKeyScopes.Read)]
    [InlineData("app", "admin")]
    public async Task Invalid_names_and_scopes_are_refused(string name, string scope)
    {
        await Assert.ThrowsAnyAsync<ArgumentException>(() => CreateKeyAsync(name, scope));
    }

    [Fact]
    public async Task A_key_of_an_unknown_domain_is_refused()
    {
        await Assert.ThrowsAsync<EntityNotFoundException>(async () =>
            await Keys.CreateAsync(new ApiKeyDraft(Guid.NewGuid(), "app", Guid.NewGuid(), ApiKeyScopes.Read, null, null, "h"), Ct));
    }

    private RefreshTokenFamily Family(string hash, TimeSpan? life = null)
        => new(Guid.NewGuid(), Guid.NewGuid(), "stamp", hash, Time.GetUtcNow(), Time.GetUtcNow() + (life ?? TimeSpan.FromDays(1)));

    [Fact]
    public async Task A_family_rotates_only_from_its_current_hash()
    {
        var family = Family("h1");
        await Families.CreateAsync(family, Ct);

        var rotated = await Families.RotateAsync(family.Id, "h1", "h2", family.ExpiresAt.AddDays(1), Ct);
        var fromOld = await Families.RotateAsync(family.Id, "h1", "h3", family.ExpiresAt.AddDays(2), Ct);

        Assert.True(rotated);
        Assert.False(fromOld);
        var read = await Families.GetAsync(family.Id, Ct);
        Assert.Equal(family with { TokenHash = "h2", ExpiresAt = family.ExpiresAt.AddDays(1) }, read);
    }

    [Fact]
    public async Task A_revoked_family_cannot_be_rotated_back_to_life()
    {
        var family = Family("h1");
        await Families.CreateAsync(family, Ct);

        Assert.True(await Families.RevokeAsync(family.Id, Ct));
        var rotated = await Families.RotateAsync(family.Id, "h1", "h2", family.ExpiresAt, Ct);

        Assert.False(rotated);
        Assert.Null(await Families.GetAsync(family.Id, Ct));
        Assert.False(await Families.RevokeAsync(family.Id, Ct));
    }

    [Fact]
    public async Task Expired_families_are_removed_and_live_ones_kept()
    {
        var shortLived = Family("a", TimeSpan.FromHours(1));
        var longLived = Family("b", TimeSpan.FromDays(2));
        await Families.CreateAsync(shortLived, Ct);
        await Families.CreateAsync(longLived, Ct);
        Time.Advance(TimeSpan.FromHours(2));

        var removed = await Families.RemoveExpiredAsync(Time.GetUtcNow(), Ct);

        Assert.Equal(1, removed);
        Assert.Null(await Families.GetAsync(shortLived.Id, Ct));
        Assert.NotNull(await Families.GetAsync(longLived.Id, Ct));
        Assert.Equal([longLived.Id.ToString("D")], await Stores.Registry.GetChildrenAsync(RefreshTokenStore.Root, cancellationToken: Ct));
    }

    [Fact]
    public async Task The_security_stamp_changes_with_the_password_only()
    {
        var user = await Stores.Users.CreateAsync("stamp.user", "first-password", cancellationToken: Ct);
        var first = await Stores.Users.GetSecurityStampAsync(user.Id, Ct);
        await Stores.Users.RenameAsync(user.Id, "stamp.renamed", Ct);
        var renamed = await Stores.Users.GetSecurityStampAsync(user.Id, Ct);

        await Stores.Users.SetPasswordAsync(user.Id, "second-password", Ct);
        var changed = await Stores.Users.GetSecurityStampAsync(user.Id, Ct);
        await Stores.Users.DeleteAsync(user.Id, Ct);

        Assert.NotNull(first);
        Assert.Equal(first, renamed);
        Assert.False(string.IsNullOrEmpty(changed));
        Assert.NotEqual(first, changed);
        Assert.Null(await Stores.Users.GetSecurityStampAsync(user.Id, Ct));
    }
}
