using System.Net;
using M2M.Load.Cli;

namespace M2M.Load.Tests;

public sealed class CommandLineTests
{
    [Fact]
    public void Load_without_options_gets_the_load_defaults()
    {
        var o = Parse("load");
        Assert.Equal(LoadCommand.Load, o.Command);
        Assert.Equal(100, o.Devices);
        Assert.Equal(100, o.BarrierEvery);
        Assert.Equal(TimeSpan.FromSeconds(30), o.Duration);
        Assert.Equal(3010, o.M2mpPort);
        Assert.Equal(3050, o.AlipPort);
        Assert.Equal(ProtocolMix.M2mp, o.Protocol);
    }

    [Fact]
    public void Simulate_defaults_differ_from_load_defaults()
    {
        var o = Parse("simulate");
        Assert.Equal(10, o.Devices);
        Assert.Equal(10, o.BarrierEvery);
        Assert.Equal(TimeSpan.Zero, o.Duration);
    }

    [Fact]
    public void Options_are_read_in_both_spellings()
    {
        var o = Parse("load", "--devices=7", "-k", "50", "--protocol", "mix", "--rate", "75000", "--duration=1m", "--json", "--m2mp-port", "4010");
        Assert.Equal(7, o.Devices);
        Assert.Equal(50, o.BarrierEvery);
        Assert.Equal(ProtocolMix.Mix, o.Protocol);
        Assert.Equal(75000, o.Rate);
        Assert.Equal(TimeSpan.FromMinutes(1), o.Duration);
        Assert.True(o.Json);
        Assert.Equal(4010, o.M2mpPort);
    }

    [Theory]
    [InlineData("load", "--bogus", "1")]
    [InlineData("load", "--devices")]
    [InlineData("load", "--devices", "many")]
    [InlineData("load", "--devices", "0")]
    [InlineData("load", "--m2mp-port", "70000")]
    [InlineData("load", "--json=yes")]
    [InlineData("load", "-n", "3", "--devices", "4")]
    [InlineData("load", "--duration", "0")]
    [InlineData("load", "--reconnect-min", "1m", "--reconnect-max", "10s")]
    [InlineData("simulate", "--rate", "10")]
    [InlineData("load", "--replay", "x.csv")]
    [InlineData("launch")]
    [InlineData("load", "stray")]
    public void Bad_arguments_are_refused_with_a_message(params string[] args)
    {
        var result = CommandLine.Parse(args);
        Assert.Null(result.Options);
        Assert.False(result.Help);
        Assert.False(string.IsNullOrWhiteSpace(result.Error));
    }

    [Fact]
    public void Help_is_available_for_the_tool_and_for_each_command()
    {
        Assert.True(CommandLine.Parse([]).Help);
        var help = CommandLine.Parse(["connections", "--help"]);
        Assert.True(help.Help);
        Assert.Equal(LoadCommand.Connections, help.HelpCommand);
        var text = CommandLine.Help(LoadCommand.Connections);
        Assert.Contains("--connections", text, StringComparison.Ordinal);
        Assert.Contains("--then-load", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_option_the_parser_knows_is_documented_in_the_help_of_some_command()
    {
        var help = string.Join("\n", Enum.GetValues<LoadCommand>().Select(c => CommandLine.Help(c)));
        string[] options =
        [
            "--host", "--m2mp-port", "--alip-port", "--protocol", "--devices", "--ident-prefix", "--ident-offset", "--barrier-every",
            "--duration", "--period", "--jitter", "--rate", "--window", "--max-unacked", "--history", "--spacing", "--replay", "--replay-loop",
            "--reconnect-min", "--reconnect-max", "--connect-timeout", "--ident-timeout", "--server-pid", "--json", "--quiet",
            "--source-addresses", "--connections", "--connect-concurrency", "--settle", "--hold", "--then-load", "--rows",
            "--sync-every", "--dir",
        ];
        foreach (var option in options)
        {
            Assert.Contains(option, help, StringComparison.Ordinal);
            // and the parser accepts it (flags alone, others with a plausible value)
            var command = option switch
            {
                "--replay" or "--replay-loop" or "--period" or "--jitter" or "--max-unacked" => "simulate",
                "--rows" or "--sync-every" or "--dir" => "rocks-baseline",
                _ => "connections",
            };
            var value = option switch
            {
                "--host" or "--ident-prefix" or "--dir" or "--replay" => "x",
                "--protocol" => "alip",
                "--source-addresses" => "127.0.0.2-127.0.0.3",
                "--jitter" => "10%",
                "--json" or "--quiet" or "--replay-loop" or "--then-load" => null,
                _ when option.Contains("timeout", StringComparison.Ordinal) || option is "--duration" or "--period" or "--history" or "--spacing" or "--settle" or "--hold" or "--reconnect-min" or "--reconnect-max" => "2s",
                _ => "5",
            };
            var result = CommandLine.Parse(value is null ? [command, option] : [command, option, value]);
            Assert.True(result.Options is not null, $"{command} {option} {value}: {result.Error}");
        }
    }

    [Theory]
    [InlineData("30m", true)]
    [InlineData("1s", true)]
    [InlineData("1.5s", false)]
    [InlineData("0", false)]
    [InlineData("400d", false)]
    public void Spacing_is_whole_seconds(string text, bool accepted)
    {
        var result = CommandLine.Parse(["load", "--spacing", text]);

        Assert.Equal(accepted, result.Options is not null);
        if (accepted)
        {
            Assert.Equal(CommandLine.ParseDuration(text), result.Options!.Spacing);
        }
    }

    [Theory]
    [InlineData("500ms", 0.5)]
    [InlineData("30s", 30)]
    [InlineData("5m", 300)]
    [InlineData("2h", 7200)]
    [InlineData("7d", 604800)]
    [InlineData("1.5", 1.5)]
    [InlineData("0", 0)]
    public void Durations_accept_units(string text, double seconds) =>
        Assert.Equal(TimeSpan.FromSeconds(seconds), CommandLine.ParseDuration(text));

    [Theory]
    [InlineData("-1s")]
    [InlineData("soon")]
    [InlineData("5x")]
    [InlineData("")]
    public void Durations_refuse_garbage(string text) =>
        Assert.Throws<FormatException>(() => CommandLine.ParseDuration(text));

    [Theory]
    [InlineData("20%", 0.2)]
    [InlineData("0.25", 0.25)]
    [InlineData("0", 0)]
    [InlineData("100%", 1)]
    public void Jitter_is_a_fraction_or_a_percentage(string text, double expected) =>
        Assert.Equal(expected, CommandLine.ParseFraction(text), 9);

    [Theory]
    [InlineData("150%")]
    [InlineData("-0.1")]
    [InlineData("lots")]
    public void Jitter_outside_zero_to_one_is_refused(string text) =>
        Assert.Throws<FormatException>(() => CommandLine.ParseFraction(text));

    [Fact]
    public void A_source_address_range_lists_every_address_in_order()
    {
        var list = CommandLine.ParseAddressRange("127.0.0.2-127.0.1.3");
        Assert.Equal(258, list.Count);
        Assert.Equal(IPAddress.Parse("127.0.0.2"), list[0]);
        Assert.Equal(IPAddress.Parse("127.0.0.255"), list[253]);
        Assert.Equal(IPAddress.Parse("127.0.1.3"), list[^1]);
        Assert.Single(CommandLine.ParseAddressRange("127.0.0.9"));
        Assert.Empty(CommandLine.ParseAddressRange("none"));
    }

    [Theory]
    [InlineData("127.0.0.9-127.0.0.2")]
    [InlineData("::1")]
    [InlineData("10.0.0.0-10.2.0.0")]
    [InlineData("localhost")]
    public void Bad_source_address_ranges_are_refused(string text) =>
        Assert.Throws<FormatException>(() => CommandLine.ParseAddressRange(text));

    private static LoadOptions Parse(params string[] args)
    {
        var result = CommandLine.Parse(args);
        Assert.True(result.Options is not null, result.Error);
        return result.Options!;
    }
}
