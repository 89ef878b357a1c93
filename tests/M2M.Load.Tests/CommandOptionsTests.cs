using M2M.Load.Cli;

namespace M2M.Load.Tests;

/// <summary>The options of <c>m2m-load commands</c>.</summary>
public sealed class CommandOptionsTests
{
    [Fact]
    public void Commands_gets_its_defaults_and_reads_its_options()
    {
        var o = Parse("commands", "--api-url", "http://127.0.0.1:5123", "--api-password", "pw", "--protocol", "alip", "-n", "1000", "--rate", "250", "-d", "1m", "--api-concurrency", "16", "--grace", "5s");
        Assert.Equal(LoadCommand.Commands, o.Command);
        Assert.Equal(new Uri("http://127.0.0.1:5123"), o.ApiUrl);
        Assert.Equal("admin", o.ApiUser);
        Assert.Equal("pw", o.ApiPassword);
        Assert.Equal(ProtocolMix.Alip, o.Protocol);
        Assert.Equal(1000, o.Devices);
        Assert.Equal(250, o.Rate);
        Assert.Equal(TimeSpan.FromMinutes(1), o.Duration);
        Assert.Equal(16, o.ApiConcurrency);
        Assert.Equal(TimeSpan.FromSeconds(5), o.Grace);

        var d = Parse("commands", "--api-url=https://api.example:8443/", "--api-token", "m2mk_x");
        Assert.Equal(100, d.Devices);
        Assert.Equal(100, d.Rate);
        Assert.Equal(TimeSpan.FromSeconds(30), d.Duration);
        Assert.Equal(64, d.ApiConcurrency);
        Assert.Equal(TimeSpan.FromSeconds(10), d.Grace);
        Assert.Equal("m2mk_x", d.ApiToken);
    }

    [Theory]
    [InlineData("--api-url")]
    [InlineData("--rate")]
    [InlineData("--duration")]
    [InlineData("--devices")]
    public void Commands_refuses_a_missing_or_zero_essential(string option)
    {
        var args = new List<string> { "commands", "--api-token", "t" };
        if (option != "--api-url")
        {
            args.AddRange(["--api-url", "http://127.0.0.1:1"]);
            args.AddRange([option, "0"]);
        }
        var r = CommandLine.Parse(args);
        Assert.Null(r.Options);
        Assert.Contains(option == "--api-url" ? "--api-url" : option, r.Error);
    }

    [Theory]
    [InlineData("commands", "--api-url", "ftp://x")]
    [InlineData("commands", "--api-url", "not a url")]
    [InlineData("commands", "--api-url", "http://x", "--api-concurrency", "0")]
    [InlineData("commands", "--api-url", "http://x", "--api-token", "")]
    [InlineData("commands", "--api-url", "http://x", "--grace", "-1s")]
    [InlineData("commands", "--api-url", "http://x", "--api-token", "t", "--api-password", "p")]
    [InlineData("commands", "--api-url", "http://x", "--rate", "10000", "--duration", "2h")]
    [InlineData("load", "--api-url", "http://x")]
    [InlineData("simulate", "--api-token", "t")]
    public void Bad_or_misplaced_command_options_are_refused(params string[] args)
    {
        var r = CommandLine.Parse(args);
        Assert.Null(r.Options);
        Assert.False(string.IsNullOrEmpty(r.Error));
    }

    [Fact]
    public void An_unknown_option_is_still_refused_by_name()
    {
        var r = CommandLine.Parse(["commands", "--api-url", "http://x", "--bogus", "1"]);
        Assert.Equal("--bogus: unknown option (see m2m-load commands --help).", r.Error);
    }

    [Fact]
    public void The_help_of_commands_lists_its_options()
    {
        var r = CommandLine.Parse(["commands", "--help"]);
        Assert.True(r.Help);
        var help = CommandLine.Help(r.HelpCommand);
        foreach (var option in new[] { "--api-url", "--api-token", "--api-user", "--api-password", "--rate", "--api-concurrency", "--grace", "--protocol", "M2M_API_PASSWORD" })
        {
            Assert.Contains(option, help);
        }
        Assert.Contains("commands", CommandLine.Help(null));
    }

    private static LoadOptions Parse(params string[] args)
    {
        var r = CommandLine.Parse(args);
        Assert.True(r.Options is not null, r.Error);
        return r.Options!;
    }
}
