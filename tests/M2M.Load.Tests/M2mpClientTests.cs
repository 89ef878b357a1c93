using M2M.Load.Protocol;

namespace M2M.Load.Tests;

/// <summary>The device side of M2MP against the test vectors of spec/m2mp.md.</summary>
public sealed class M2mpClientTests
{
    [Fact]
    public void Identification_matches_the_spec_vector()
    {
        var buffer = new byte[64];
        var n = M2mpClient.WriteIdent(buffer, "imei:1234");
        Assert.Equal(Convert.FromHexString("0109696d65693a31323334"), buffer[..n]);
    }

    [Fact]
    public void Channel_definition_matches_the_spec_vector()
    {
        var buffer = new byte[64];
        var n = M2mpClient.WriteChannelDefinition(buffer, 0, "sen:loc");
        Assert.Equal(Convert.FromHexString("20080073656e3a6c6f63"), buffer[..n]);
    }

    [Fact]
    public void Location_matches_the_spec_vector()
    {
        var buffer = new byte[64];
        var n = M2mpClient.WriteLocation(buffer, 0, 1700000000, 48.85f, 2.35f, 42, 35);
        Assert.Equal(Convert.FromHexString("2111006553f1004243666640166666002a0023"), buffer[..n]);
    }

    [Fact]
    public void Text_array_matches_the_spec_vector()
    {
        var buffer = new byte[64];
        var n = M2mpClient.WriteArray(buffer, 1, ["g", "cap=x"]);
        Assert.Equal(Convert.FromHexString("2209010167056361703d78"), buffer[..n]);
        Assert.Equal(n, M2mpClient.ArrayFrameLength(["g", "cap=x"]));
    }

    [Fact]
    public void Timed_value_is_an_array_of_time_and_text()
    {
        var buffer = new byte[64];
        var n = M2mpClient.WriteTimedValue(buffer, 2, 1700000000, "21.5"u8);
        // the items of the spec's 2-byte vector [u32 1700000000, "21.5"], in the smallest width
        Assert.Equal(Convert.FromHexString("220b02046553f1000432312e35"), buffer[..n]);
    }

    [Fact]
    public void Large_arrays_and_data_use_wider_sizes()
    {
        var big = new string('x', 300);
        var buffer = new byte[1024];
        var n = M2mpClient.WriteArray(buffer, 3, ["g", big]);
        Assert.Equal(M2mpClient.Array2, buffer[0]);
        Assert.True(M2mpClient.TryRead(buffer.AsSpan(0, n), out var frame, out var consumed));
        Assert.Equal(n, consumed);
        Assert.Equal(["g", big], M2mpClient.ReadItems(frame.Payload, frame.Width));

        n = M2mpClient.WriteData(buffer, 4, System.Text.Encoding.ASCII.GetBytes(big));
        Assert.Equal(M2mpClient.Data2, buffer[0]);
        Assert.True(M2mpClient.TryRead(buffer.AsSpan(0, n), out frame, out _));
        Assert.Equal(300, frame.Payload.Length);
    }

    [Fact]
    public void Server_settings_vector_is_read_as_an_array_on_channel_zero()
    {
        var bytes = Convert.FromHexString("2212000273670d6770735f706572696f643d3135");
        Assert.True(M2mpClient.TryRead(bytes, out var frame, out var consumed));
        Assert.Equal(bytes.Length, consumed);
        Assert.True(frame.IsArray);
        Assert.Equal(0, frame.Channel);
        Assert.Equal(["sg", "gps_period=15"], M2mpClient.ReadItems(frame.Payload, frame.Width));
    }

    [Fact]
    public void Two_byte_array_vector_is_read_with_two_byte_item_lengths()
    {
        var bytes = Convert.FromHexString("42000d0200046553f100000432312e35");
        Assert.True(M2mpClient.TryRead(bytes, out var frame, out var consumed));
        Assert.Equal(bytes.Length, consumed);
        Assert.Equal(2, frame.Width);
        var items = M2mpClient.ReadItems(frame.Payload, frame.Width);
        Assert.Equal(2, items.Count);
        Assert.Equal("21.5", items[1]);
    }

    [Fact]
    public void Every_truncated_prefix_needs_more_bytes()
    {
        var frames = Convert.FromHexString("0101" + "0207" + "2212000273670d6770735f706572696f643d3135" + "42000d0200046553f100000432312e35");
        var offset = 0;
        var seen = 0;
        while (offset < frames.Length)
        {
            Assert.True(M2mpClient.TryRead(frames.AsSpan(offset), out _, out var consumed));
            for (var cut = 0; cut < consumed; cut++)
            {
                Assert.False(M2mpClient.TryRead(frames.AsSpan(offset, cut), out _, out var none));
                Assert.Equal(0, none);
            }
            offset += consumed;
            seen++;
        }
        Assert.Equal(4, seen);
    }

    [Theory]
    [InlineData("0500")]
    [InlineData("9000")]
    [InlineData("6100200000")]
    [InlineData("2100")]
    public void Hostile_frames_are_protocol_errors(string hex) =>
        Assert.Throws<ClientProtocolException>(() => M2mpClient.TryRead(Convert.FromHexString(hex), out _, out _));

    [Fact]
    public void An_item_running_past_its_frame_is_a_protocol_error()
    {
        var bytes = Convert.FromHexString("22050101670900");
        Assert.True(M2mpClient.TryRead(bytes, out var frame, out _));
        var payload = frame.Payload.ToArray();
        Assert.Throws<ClientProtocolException>(() => M2mpClient.ReadItems(payload, 1));
    }
}
