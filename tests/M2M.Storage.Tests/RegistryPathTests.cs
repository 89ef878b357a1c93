using M2M.Storage.Registry;

namespace M2M.Storage.Tests;

public sealed class RegistryPathTests
{
    [Theory]
    [InlineData("/device/abc/", "/device/abc/")]
    [InlineData("/device/abc", "/device/abc/")]
    [InlineData("/", "/")]
    [InlineData("/device/by-ident/imei:35412345678/", "/device/by-ident/imei:35412345678/")]
    public void Parse_accepts_absolute_paths_and_adds_the_trailing_slash(string text, string expected)
        => Assert.Equal(expected, RegistryPath.Parse(text).Value);

    [Theory]
    [InlineData("")]
    [InlineData("device/abc/")]
    [InlineData("//")]
    [InlineData("/a//b/")]
    [InlineData("/a/../b/")]
    [InlineData("/a/./b/")]
    [InlineData("/..")]
    [InlineData("/a\u0001b/")]
    [InlineData("/a\nb/")]
    [InlineData("/a\0b/")]
    public void Parse_rejects_invalid_paths_with_a_typed_error(string text)
    {
        var error = Assert.Throws<RegistryPathException>(() => RegistryPath.Parse(text));
        Assert.IsAssignableFrom<ArgumentException>(error);
        Assert.False(RegistryPath.TryParse(text, out _));
    }

    [Fact]
    public void Parse_rejects_overlong_paths_and_segments()
    {
        Assert.Throws<RegistryPathException>(() => RegistryPath.Parse("/" + new string('a', RegistryPath.MaxSegmentLength + 1) + "/"));
        var longPath = string.Concat(Enumerable.Repeat("/" + new string('b', 100), 50)) + "/";
        Assert.True(longPath.Length > RegistryPath.MaxLength);
        Assert.Throws<RegistryPathException>(() => RegistryPath.Parse(longPath));
        Assert.Equal(RegistryPath.MaxSegmentLength + 2, RegistryPath.Parse("/" + new string('a', RegistryPath.MaxSegmentLength) + "/").Value.Length);
    }

    [Theory]
    [InlineData("")]
    [InlineData("a/b")]
    [InlineData("..")]
    [InlineData("x\ty")]
    public void Child_rejects_names_that_are_not_one_valid_segment(string name)
        => Assert.Throws<RegistryPathException>(() => RegistryPath.Parse("/device/").Child(name));

    [Fact]
    public void Parent_name_segments_and_ancestry_follow_the_path()
    {
        var path = RegistryPath.Parse("/device/42/settings/");
        Assert.Equal("settings", path.Name);
        Assert.Equal("/device/42/", path.Parent!.Value.Value);
        Assert.Equal(["device", "42", "settings"], path.Segments);
        Assert.True(RegistryPath.Parse("/device/").IsAncestorOrSelf(path));
        Assert.False(RegistryPath.Parse("/dev/").IsAncestorOrSelf(path));
        Assert.False(RegistryPath.Parse("/device/4/").IsAncestorOrSelf(path));
        Assert.Null(RegistryPath.Root.Parent);
        Assert.Equal(path, RegistryPath.Parse("/device/").Combine("42/settings"));
    }

    [Theory]
    [InlineData("a/b")]
    [InlineData(".hidden")]
    [InlineData("..")]
    [InlineData("100%")]
    [InlineData("imei:35412345678")]
    [InlineData("tab\there")]
    public void Escaped_segments_are_valid_and_round_trip(string text)
    {
        var segment = RegistryPath.EscapeSegment(text);
        var child = RegistryPath.Root.Child(segment);
        Assert.False(child.Name.StartsWith('.'));
        Assert.Equal(text, RegistryPath.UnescapeSegment(child.Name));
    }
}
