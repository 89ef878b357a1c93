using M2M.Storage.Entities;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;

namespace M2M.Storage.Contracts;

/// <summary>The behaviour every <see cref="IUserStore"/> backend must have.</summary>
public abstract class UserStoreContract : EntityContract
{
    private IUserStore Users => Stores.Users;

    [Fact]
    public async Task A_created_user_has_the_spec_values_and_is_in_the_default_domain()
    {
        var user = await Users.CreateAsync("john.doe", "correct horse", UserRoles.Admin, "John Doe", cancellationToken: Ct);
        var main = await Stores.Domains.EnsureDefaultAsync(Ct);

        Assert.Equal(new User(user.Id, "john.doe", "John Doe", main.Id, "admin", Time.GetUtcNow()), user);
        Assert.Equal(user, await Users.GetAsync(user.Id, Ct));
        Assert.Equal(user, await Users.GetByNameAsync("john.doe", Ct));
        var values = await Stores.Registry.GetValuesAsync(EntityPaths.User(user.Id), Ct);
        Assert.Equal(Time.GetUtcNow().ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture), values["created_date"]);
        Assert.Equal("1", values[".version"]);
        Assert.Equal([user.Id], await Stores.Domains.GetUserIdsAsync(main.Id, Ct));
    }

    [Fact]
    public async Task Only_a_salted_hash_of_the_password_is_stored()
    {
        const string password = "s3cret-Passw0rd";
        var a = await Users.CreateAsync("usera", password, cancellationToken: Ct);
        var b = await Users.CreateAsync("userb", password, cancellationToken: Ct);

        var hashA = await Stores.Registry.GetValueAsync(EntityPaths.User(a.Id), "password_hash", Ct);
        var hashB = await Stores.Registry.GetValueAsync(EntityPaths.User(b.Id), "password_hash", Ct);
        var everything = await Stores.Registry.ExportJsonAsync(EntityPaths.User(a.Id), Ct);

        Assert.NotNull(hashA);
        Assert.NotEqual(password, hashA);
        Assert.DoesNotContain(password, everything);
        Assert.NotEqual(hashA, hashB);
    }

    [Fact]
    public async Task Verification_accepts_the_password_and_rejects_anything_else()
    {
        var user = await Users.CreateAsync("carol", "pass-word", cancellationToken: Ct);

        Assert.Equal(user, await Users.VerifyPasswordAsync("carol", "pass-word", Ct));
        Assert.Null(await Users.VerifyPasswordAsync("carol", "pass-wordx", Ct));
        Assert.Null(await Users.VerifyPasswordAsync("carol", "", Ct));
        Assert.Null(await Users.VerifyPasswordAsync("nobody", "pass-word", Ct));
        Assert.Null(await Users.VerifyPasswordAsync("Not A Name", "pass-word", Ct));
    }

    [Fact]
    public async Task Setting_a_password_replaces_the_old_one()
    {
        var user = await Users.CreateAsync("dave", "first-pw", cancellationToken: Ct);
        await Users.SetPasswordAsync(user.Id, "second-pw", Ct);

        Assert.Null(await Users.VerifyPasswordAsync("dave", "first-pw", Ct));
        Assert.NotNull(await Users.VerifyPasswordAsync("dave", "second-pw", Ct));
        await Assert.ThrowsAsync<ArgumentException>(() => Users.SetPasswordAsync(user.Id, "", Ct).AsTask());
        await Assert.ThrowsAsync<EntityNotFoundException>(() => Users.SetPasswordAsync(Guid.NewGuid(), "x-pw", Ct).AsTask());
    }

    [Fact]
    public async Task A_hash_in_an_old_format_is_upgraded_when_the_password_is_verified()
    {
        var user = await Users.CreateAsync("erin", "old-format", cancellationToken: Ct);
        var v2 = new PasswordHasher<User>(Options.Create(new PasswordHasherOptions { CompatibilityMode = PasswordHasherCompatibilityMode.IdentityV2 }));
        var legacy = v2.HashPassword(user, "old-format");
        await Stores.Registry.SetValueAsync(EntityPaths.User(user.Id), "password_hash", legacy, cancellationToken: Ct);

        Assert.NotNull(await Users.VerifyPasswordAsync("erin", "old-format", Ct));

        var upgraded = await Stores.Registry.GetValueAsync(EntityPaths.User(user.Id), "password_hash", Ct);
        Assert.NotEqual(legacy, upgraded);
        Assert.Equal(0x01, Convert.FromBase64String(upgraded!)[0]); // Identity V3 format marker
        Assert.NotNull(await Users.VerifyPasswordAsync("erin", "old-format", Ct));
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("Abcd")]
    [InlineData("1abc")]
    [InlineData("ab_cd")]
    [InlineData("abcd-e")]
    [InlineData("abcdefghijklmnopqrstuvwxyz")]
    [InlineData("")]
    public async Task Invalid_user_names_are_refused(string name)
        => await Assert.ThrowsAsync<InvalidUserNameException>(() => Users.CreateAsync(name, "pw-123", cancellationToken: Ct).AsTask());

    [Theory]
    [InlineData("abcd")]
    [InlineData("john.doe2")]
    [InlineData("abcdefghijklmnopqrstuvwxy")]
    public async Task Valid_user_names_are_accepted(string name)
        => Assert.Equal(name, (await Users.CreateAsync(name, "pw-123", cancellationToken: Ct)).Name);

    [Fact]
    public async Task User_names_are_unique_and_renaming_moves_the_name()
    {
        var user = await Users.CreateAsync("frank", "pw-frank", cancellationToken: Ct);
        await Users.CreateAsync("grace", "pw-grace", cancellationToken: Ct);

        await Assert.ThrowsAsync<DuplicateNameException>(() => Users.CreateAsync("frank", "other", cancellationToken: Ct).AsTask());
        await Assert.ThrowsAsync<DuplicateNameException>(() => Users.RenameAsync(user.Id, "grace", Ct).AsTask());

        Assert.Equal("franky", (await Users.RenameAsync(user.Id, "franky", Ct)).Name);
        Assert.Null(await Users.GetByNameAsync("frank", Ct));
        Assert.NotNull(await Users.VerifyPasswordAsync("franky", "pw-frank", Ct));
        await Assert.ThrowsAsync<InvalidUserNameException>(() => Users.RenameAsync(user.Id, "X", Ct).AsTask());
    }

    [Fact]
    public async Task Display_name_role_domain_and_settings_can_be_changed()
    {
        var user = await Users.CreateAsync("heidi", "pw-heidi", cancellationToken: Ct);
        var team = await Stores.Domains.CreateAsync("team", Ct);
        var main = await Stores.Domains.EnsureDefaultAsync(Ct);

        await Users.SetDisplayNameAsync(user.Id, "Heidi K.", Ct);
        await Users.SetRoleAsync(user.Id, UserRoles.Admin, Ct);
        await Users.SetDomainAsync(user.Id, team.Id, Ct);
        await Users.SetSettingAsync(user.Id, "theme", "dark", Ct);

        var loaded = await Users.GetAsync(user.Id, Ct);
        Assert.Equal(("Heidi K.", "admin", team.Id), (loaded!.DisplayName, loaded.Role, loaded.DomainId));
        Assert.Equal([user.Id], await Stores.Domains.GetUserIdsAsync(team.Id, Ct));
        Assert.Empty(await Stores.Domains.GetUserIdsAsync(main.Id, Ct));
        Assert.Equal(new Dictionary<string, string> { ["theme"] = "dark" }, await Users.GetSettingsAsync(user.Id, Ct));
        Assert.True(await Users.DeleteSettingAsync(user.Id, "theme", Ct));
        Assert.Empty(await Users.GetSettingsAsync(user.Id, Ct));
        await Assert.ThrowsAsync<ArgumentException>(() => Users.SetRoleAsync(user.Id, "Bad Role", Ct).AsTask());
        await Assert.ThrowsAsync<EntityNotFoundException>(() => Users.SetDomainAsync(user.Id, Guid.NewGuid(), Ct).AsTask());
    }

    [Fact]
    public async Task Deleting_a_user_frees_the_name_and_leaves_the_list()
    {
        Assert.False(await Users.AnyUsersAsync(Ct));
        var ivan = await Users.CreateAsync("ivan", "pw-ivan", cancellationToken: Ct);
        var judy = await Users.CreateAsync("judy", "pw-judy", cancellationToken: Ct);
        Assert.True(await Users.AnyUsersAsync(Ct));
        Assert.Equal(["ivan", "judy"], (await Users.ListAsync(Ct)).Select(u => u.Name));

        Assert.True(await Users.DeleteAsync(ivan.Id, Ct));
        Assert.True(await Users.DeleteAsync(judy.Id, Ct));
        Assert.False(await Users.DeleteAsync(judy.Id, Ct));

        Assert.False(await Users.AnyUsersAsync(Ct));
        Assert.Null(await Users.GetAsync(ivan.Id, Ct));
        Assert.Null(await Users.VerifyPasswordAsync("ivan", "pw-ivan", Ct));
        Assert.NotNull(await Stores.Registry.GetValueAsync(EntityPaths.User(ivan.Id), ".deleted_date", Ct));
        Assert.NotEqual(ivan.Id, (await Users.CreateAsync("ivan", "pw-ivan", cancellationToken: Ct)).Id);
    }
}
