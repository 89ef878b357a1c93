using System.Text;
using M2M.Load.Protocol;

namespace M2M.Load.Tests;

/// <summary>The device side of ALIP (spec/alip.md).</summary>
public sealed class AlipClientTests
{
    [Fact]
    public void Device_lines_follow_the_grammar()
    {
        var buffer = new byte[256];
        Assert.Equal("ID imei:35412345678\n", Line(buffer, AlipClient.WriteIdent(buffer, "imei:35412345678")));
        Assert.Equal("A 42\n", Line(buffer, AlipClient.WriteBarrier(buffer, 42)));
        Assert.Equal("E 1700000000 L 48.85661,2.35222,42,35\n", Line(buffer, AlipClient.WriteLocation(buffer, 1700000000, 48.85661f, 2.35222f, 42, 35)));
        Assert.Equal("E 1700000000 T 21.5\n", Line(buffer, AlipClient.WriteTemperature(buffer, 1700000000, 21.5f)));
        Assert.Equal("E 1700000000 can {\"rpm\":1}\n", Line(buffer, AlipClient.WriteTimed(buffer, 1700000000, "can", "{\"rpm\":1}")));
        Assert.Equal("S A gps_period 60\n", Line(buffer, AlipClient.WriteSetting(buffer, true, "gps_period", "60")));
        Assert.Equal("S S gps_period 60\n", Line(buffer, AlipClient.WriteSetting(buffer, false, "gps_period", "60")));
        Assert.Equal("C A 3\n", Line(buffer, AlipClient.WriteCommandAck(buffer, "3"u8)));
        Assert.Equal("B 9\n", Line(buffer, AlipClient.WritePingAnswer(buffer, "9"u8)));
    }

    [Fact]
    public void A_line_too_long_for_the_buffer_is_an_argument_error()
    {
        var buffer = new byte[8];
        Assert.Throws<ArgumentException>(() => AlipClient.WriteIdent(buffer, "imei:35412345678"));
    }

    [Theory]
    [InlineData("ID 1", AlipServerLineKind.Identification, "1", "")]
    [InlineData("ID 0", AlipServerLineKind.Identification, "0", "")]
    [InlineData("B 17", AlipServerLineKind.BarrierAnswer, "17", "")]
    [InlineData("A 3", AlipServerLineKind.ServerPing, "3", "")]
    [InlineData("S S gps_period 15", AlipServerLineKind.SetSetting, "gps_period", "15")]
    [InlineData("S S msg hello world", AlipServerLineKind.SetSetting, "msg", "hello world")]
    [InlineData("S GA", AlipServerLineKind.ReportAllSettings, "", "")]
    [InlineData("C 2 reboot now", AlipServerLineKind.Command, "2", "reboot now")]
    [InlineData("ERR You must be identified", AlipServerLineKind.Error, "You must be identified", "")]
    [InlineData("QUIT bye", AlipServerLineKind.Quit, "bye", "")]
    [InlineData("T 1700000000", AlipServerLineKind.Other, "T 1700000000", "")]
    public void Server_lines_are_recognised(string text, AlipServerLineKind kind, string first, string second)
    {
        var line = AlipClient.Parse(Encoding.ASCII.GetBytes(text));
        Assert.Equal(kind, line.Kind);
        Assert.Equal(first, Encoding.ASCII.GetString(line.First));
        Assert.Equal(second, Encoding.ASCII.GetString(line.Second));
    }

    [Theory]
    [InlineData("C x reboot")]
    [InlineData("S S lonely")]
    public void Malformed_pushes_are_protocol_errors(string text) =>
        Assert.Throws<ClientProtocolException>(() => AlipClient.Parse(Encoding.ASCII.GetBytes(text)));

    [Fact]
    public void Lines_end_at_newline_and_drop_a_carriage_return()
    {
        var bytes = "ID 1\r\nB 1\nB 2"u8.ToArray();
        Assert.True(AlipClient.TryReadLine(bytes, out var line, out var consumed));
        Assert.Equal("ID 1", Encoding.ASCII.GetString(line));
        Assert.Equal(6, consumed);
        Assert.True(AlipClient.TryReadLine(bytes.AsSpan(6), out line, out consumed));
        Assert.Equal("B 1", Encoding.ASCII.GetString(line));
        Assert.False(AlipClient.TryReadLine(bytes.AsSpan(6 + consumed), out _, out consumed));
        Assert.Equal(0, consumed);
    }

    [Fact]
    public void An_endless_line_is_a_protocol_error()
    {
        var bytes = new byte[AlipClient.MaxLineLength + 1];
        Assert.Throws<ClientProtocolException>(() => AlipClient.TryReadLine(bytes, out _, out _));
    }

    private static string Line(byte[] buffer, int length) => Encoding.ASCII.GetString(buffer, 0, length);
}
