using System.Net;
using System.Net.Sockets;
using M2M.Load.Stats;

namespace M2M.Load.Tests;

public sealed class ProcessProbeTests
{
    [Fact]
    public void Rss_is_read_from_the_status_file_in_bytes()
    {
        const string Status = "Name:\tdotnet\nVmPeak:\t  999 kB\nVmRSS:\t  123456 kB\nThreads:\t12\n";
        Assert.Equal(123456L * 1024, ProcessProbe.ParseRss(Status));
        Assert.Null(ProcessProbe.ParseRss("Name:\tx\n"));
    }

    [Fact]
    public void Listening_sockets_are_recognised_by_state_and_port()
    {
        const string Listen = "   1: 0100007F:0BC2 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 424242 1 0000000000000000 100 0 0 10 0";
        const string Established = "   2: 0100007F:0BC2 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 434343 1 0000000000000000 20 4 30 10 -1";
        Assert.Equal("424242", ProcessProbe.ListeningInode(Listen, 3010));
        Assert.Null(ProcessProbe.ListeningInode(Listen, 3050));
        Assert.Null(ProcessProbe.ListeningInode(Established, 3010));
    }

    [Fact]
    public void This_process_is_found_by_its_listening_port_and_has_memory_and_cpu()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "/proc is Linux only");
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        Assert.Equal(Environment.ProcessId, ProcessProbe.FindListener(port));
        Assert.True(ProcessProbe.ReadRss(Environment.ProcessId) > 1024 * 1024);
        Assert.NotNull(ProcessProbe.ReadCpuTime(Environment.ProcessId));
        listener.Stop();
        Assert.Null(ProcessProbe.FindListener(port));
    }
}
