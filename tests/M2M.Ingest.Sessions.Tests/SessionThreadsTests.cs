using System.Text.Json;
using M2M.Ingest.Converters;
using M2M.Storage.Entities;

namespace M2M.Ingest.Sessions.Tests;

/// <summary>
/// <c>M2M:Ingest:SessionThreads</c>: device sessions run on threads of their own (not the thread pool), on
/// both protocols, and work as on the pool. An in-process converter, called by the session on its read
/// loop, reports the thread it runs on.
/// </summary>
public sealed class SessionThreadsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task With_session_threads_both_protocols_are_handled_on_them_and_their_barriers_answered_after_storage()
    {
        await using var server = await DeviceServer.StartAsync(b => b.Services.AddChannelConverter<ThreadReportingConverter>(), "SessionThreads=2");
        var (m2mpDevice, alipDevice) = await TranslatedDevicesAsync(server);

        var (m2mpThreads, alipThreads) = await SendAsync(server, m2mpDevice, alipDevice);

        Assert.All(m2mpThreads.Concat(alipThreads), t => Assert.StartsWith("m2m-session-", t.Name, StringComparison.Ordinal));
        Assert.All(m2mpThreads.Concat(alipThreads), t => Assert.False(t.Pool));
    }

    [Fact]
    public async Task Without_session_threads_sessions_run_on_the_thread_pool()
    {
        await using var server = await DeviceServer.StartAsync(b => b.Services.AddChannelConverter<ThreadReportingConverter>(), "SessionThreads=0");
        var (m2mpDevice, alipDevice) = await TranslatedDevicesAsync(server);

        var (m2mpThreads, alipThreads) = await SendAsync(server, m2mpDevice, alipDevice);

        Assert.All(m2mpThreads.Concat(alipThreads), t => Assert.True(t.Pool));
    }

    [Fact]
    public async Task Session_thread_settings_out_of_range_stop_the_start()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => DeviceServer.StartAsync("SessionThreads=-1"));
        Assert.Contains("SessionThreads", error.ToString(), StringComparison.Ordinal);
        error = await Assert.ThrowsAnyAsync<Exception>(() => DeviceServer.StartAsync("SessionThreads=1", "SessionThreadNice=20"));
        Assert.Contains("SessionThreadNice", error.ToString(), StringComparison.Ordinal);
    }

    private static async Task<(Device M2mp, Device Alip)> TranslatedDevicesAsync(DeviceServer server)
    {
        var m2mp = await server.Devices.CreateAsync(Idents.New(), cancellationToken: Ct);
        var alip = await server.Devices.CreateAsync(Idents.New(), cancellationToken: Ct);
        await server.Devices.SetChannelTranslationAsync(m2mp.Id, 10, "probe", ThreadReportingConverter.Name, Ct);
        await server.Devices.SetChannelTranslationAsync(alip.Id, 10, "probe", ThreadReportingConverter.Name, Ct);
        return (m2mp, alip);
    }

    /// <summary>Sends three probe frames on each protocol, each followed by a barrier; returns the threads the converter saw.</summary>
    private static async Task<(List<(string? Name, bool Pool)> M2mp, List<(string? Name, bool Pool)> Alip)> SendAsync(DeviceServer server, Device m2mpDevice, Device alipDevice)
    {
        var (m2mpId, alipId) = (m2mpDevice.Id, alipDevice.Id);
        await using (var m2mp = await server.ConnectM2mpAsync())
        {
            await m2mp.IdentifyNewAsync(m2mpDevice.Ident);
            for (byte i = 1; i <= 3; i++)
            {
                await m2mp.SendTextAsync("probe", $"m{i}");
                await m2mp.PingAsync(i);
                // The barrier was answered: the converter's record is stored already.
                Assert.Equal(i, (await server.RecordsAsync(m2mpId, "probe:thread")).Count);
            }
        }

        await using (var alip = await server.ConnectAlipAsync())
        {
            await alip.IdentifyAsync(alipDevice.Ident);
            await alip.ExpectAsync("S GA");
            for (var i = 1; i <= 3; i++)
            {
                await alip.SendAsync($"E {1700000000 + i} probe a{i}");
                await alip.BarrierAsync();
                Assert.Equal(i, (await server.RecordsAsync(alipId, "probe:thread")).Count);
            }
        }

        return (await ThreadsAsync(server, m2mpId), await ThreadsAsync(server, alipId));
    }

    private static async Task<List<(string? Name, bool Pool)>> ThreadsAsync(DeviceServer server, Guid id) =>
        (await server.RecordsAsync(id, "probe:thread"))
            .Select(r => JsonDocument.Parse(r.Data).RootElement)
            .Select(e => (e.GetProperty("thread").GetString(), e.GetProperty("pool").GetBoolean()))
            .ToList();

    /// <summary>Turns each frame into a record naming the thread that converted it.</summary>
    private sealed class ThreadReportingConverter : IChannelConverter
    {
        public const string Name = "test-thread";

        public string Topic => Name;

        public ValueTask<IReadOnlyList<ConvertedRecord>> ConvertAsync(ConverterInput input, CancellationToken cancellationToken)
        {
            var data = JsonSerializer.Serialize(new { thread = Thread.CurrentThread.Name, pool = Thread.CurrentThread.IsThreadPoolThread, frame = input.Data });
            return ValueTask.FromResult<IReadOnlyList<ConvertedRecord>>([new("probe:thread", input.Time, data)]);
        }
    }
}
