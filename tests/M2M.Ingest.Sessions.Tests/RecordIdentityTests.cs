using System.Buffers.Binary;
using System.Text;
using M2M.Testing;

namespace M2M.Ingest.Sessions.Tests;

/// <summary>
/// A record's identity is its series, type, time and data, whatever connection brings it: two different
/// values of one instant are both kept (on two connections, or a correction after a reconnect), a record
/// resent after a reconnect is stored once, and every record keeps exactly the device's time.
/// </summary>
[Collection(SharedServerCollection.Name)]
public sealed class RecordIdentityTests(SharedServer shared)
{
    private DeviceServer Server => shared.Server;

    private static readonly DateTimeOffset DeviceInstant = DateTimeOffset.FromUnixTimeSeconds(1700000000);

    private async Task<AlipDevice> ConnectAlipAsync(string ident)
    {
        var device = await Server.ConnectAlipAsync();
        await device.IdentifyAsync(ident);
        await device.ExpectAsync("S GA");
        return device;
    }

    private async Task<M2mpDevice> ConnectM2mpAsync(string ident)
    {
        var device = await Server.ConnectM2mpAsync();
        await device.IdentifyNewAsync(ident);
        return device;
    }

    /// <summary>An M2MP <c>sen:*</c> array item list: <c>[u32 BE unix time, value]</c>.</summary>
    private static ReadOnlyMemory<byte>[] Sensor(DateTimeOffset time, string value)
    {
        var seconds = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(seconds, (uint)time.ToUnixTimeSeconds());
        return [seconds, Encoding.UTF8.GetBytes(value)];
    }

    private async Task<IReadOnlyList<M2M.Storage.TimeSeries.TimeSeriesRecord>> TemperaturesAsync(string ident) =>
        await Server.RecordsAsync((await Server.DeviceAsync(ident)).Id, "sen:temp");

    [Fact]
    public async Task Two_alip_connections_of_one_device_sending_different_values_of_one_instant_both_are_stored()
    {
        var ident = Idents.New();
        await using var first = await ConnectAlipAsync(ident);
        await using var second = await ConnectAlipAsync(ident);

        await first.SendAsync("E 1700000000 T 21.5");
        await first.BarrierAsync("a");
        await second.SendAsync("E 1700000000 T 22.5");
        await second.BarrierAsync("b");

        var records = await TemperaturesAsync(ident);
        Assert.Equal(["\"21.5\"", "\"22.5\""], records.Select(r => r.Data).Order(StringComparer.Ordinal));
        Assert.All(records, r => Assert.Equal(DeviceInstant, r.Time));
    }

    [Fact]
    public async Task Two_m2mp_connections_of_one_device_sending_different_values_of_one_instant_both_are_stored()
    {
        var ident = Idents.New();
        await using var first = await ConnectM2mpAsync(ident);
        await using var second = await ConnectM2mpAsync(ident);

        await first.SendArrayAsync("sen:temp", Sensor(DeviceInstant, "21.5"));
        await first.PingAsync(1);
        await second.SendArrayAsync("sen:temp", Sensor(DeviceInstant, "22.5"));
        await second.PingAsync(2);

        var records = await TemperaturesAsync(ident);
        Assert.Equal(["\"21.5\"", "\"22.5\""], records.Select(r => r.Data).Order(StringComparer.Ordinal));
        Assert.All(records, r => Assert.Equal(DeviceInstant, r.Time));
    }

    [Fact]
    public async Task A_corrected_value_for_the_same_time_after_a_reconnect_is_kept_beside_the_first()
    {
        var ident = Idents.New();
        await using (var device = await ConnectAlipAsync(ident))
        {
            await device.SendAsync("E 1700000000 T 21.5");
            await device.BarrierAsync();
            Assert.Equal("QUIT bye", await device.AskAsync("QUIT"));
        }

        await using (var again = await ConnectAlipAsync(ident))
        {
            await again.SendAsync("E 1700000000 T 21.6");
            await again.BarrierAsync();
        }

        var records = await TemperaturesAsync(ident);
        Assert.Equal(["\"21.5\"", "\"21.6\""], records.Select(r => r.Data).Order(StringComparer.Ordinal));
        Assert.All(records, r => Assert.Equal(DeviceInstant, r.Time));
    }

    [Fact]
    public async Task A_record_resent_after_a_reconnect_without_a_barrier_answer_is_stored_once()
    {
        var ident = Idents.New();
        await using (var device = await ConnectAlipAsync(ident))
        {
            // The first value is acknowledged; the second reaches storage, but the connection drops before
            // a barrier covers it.
            await device.SendAsync("E 1700000000 T 21.5");
            await device.BarrierAsync();
            await device.SendAsync("E 1700000000 T 21.6");
            await DeviceServer.EventuallyAsync(async () => (await TemperaturesAsync(ident)).Count == 2, "the unacknowledged record stored");
        }

        // The device resends what no barrier covered, with its time.
        await using (var again = await ConnectAlipAsync(ident))
        {
            await again.SendAsync("E 1700000000 T 21.6");
            await again.BarrierAsync();
        }

        var records = await TemperaturesAsync(ident);
        Assert.Equal(["\"21.5\"", "\"21.6\""], records.Select(r => r.Data).Order(StringComparer.Ordinal));
        Assert.All(records, r => Assert.Equal(DeviceInstant, r.Time));
    }

    [Fact]
    public async Task An_identical_record_sent_twice_on_one_connection_is_stored_once_and_different_ones_of_the_instant_all()
    {
        var ident = Idents.New();
        await using var device = await ConnectAlipAsync(ident);

        await device.SendAsync("E 1700000000 T 1");
        await device.SendAsync("E 1700000000 T 2");
        await device.SendAsync("E 1700000000 T 1");
        await device.SendAsync("E 1700000000 T 3");
        await device.BarrierAsync();

        var records = await TemperaturesAsync(ident);
        Assert.Equal(["\"1\"", "\"2\"", "\"3\""], records.Select(r => r.Data).Order(StringComparer.Ordinal));
        Assert.All(records, r => Assert.Equal(DeviceInstant, r.Time));
    }
}
