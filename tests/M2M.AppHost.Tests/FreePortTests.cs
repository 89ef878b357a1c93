using M2M.Testing;

namespace M2M.AppHost.Tests;

/// <summary>Servers started one after the other on "free" ports must not get the same port.</summary>
public class FreePortTests
{
    [Fact]
    public void Free_ports_asked_one_after_the_other_are_all_distinct()
    {
        // 500 draws from the ~28,000 ephemeral ports: without the bookkeeping a repeat is near certain.
        var ports = Enumerable.Range(0, 500).Select(_ => ServerProcess.FreePort()).ToList();
        Assert.Equal(ports.Count, ports.Distinct().Count());
    }
}
