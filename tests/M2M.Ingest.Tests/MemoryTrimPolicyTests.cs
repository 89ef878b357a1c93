using M2M.Ingest.Hosting;

namespace M2M.Ingest.Tests;

/// <summary>
/// When the memory trimmer runs its aggressive collection (<see cref="MemoryTrimPolicy"/>): after a burst,
/// once the node is quiet and has grown; after enough network buffers were evicted; never more often
/// than the least interval.
/// </summary>
public sealed class MemoryTrimPolicyTests
{
    private const long MiB = 1 << 20;
    private const long Idle = 128 * MiB;
    private const long Evicted = 32 * MiB;
    private static readonly TimeSpan Every = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan MinInterval = TimeSpan.FromMinutes(1);
    private static readonly DateTimeOffset Start = new(2026, 11, 30, 10, 0, 0, TimeSpan.Zero);

    /// <summary>A policy and the process it watches: counters the test moves, checks every 10 s.</summary>
    private sealed class Node(long evictedThreshold = Evicted, long idleThreshold = Idle)
    {
        public DateTimeOffset Now { get; private set; } = Start;
        public long Allocated { get; set; } = 500 * MiB;
        public long WorkingSet { get; set; } = 150 * MiB;
        public long EvictedBytes { get; set; }
        public MemoryTrimPolicy Policy { get; } = new(evictedThreshold, idleThreshold, MinInterval, Start, 500 * MiB, 150 * MiB);

        /// <summary>Ten seconds pass in which the node allocates <paramref name="allocate"/> bytes; then a check.</summary>
        public string? Tick(long allocate = 0, long grow = 0)
        {
            Now += Every;
            Allocated += allocate;
            WorkingSet += grow;
            return Policy.Check(Now, Allocated, WorkingSet, EvictedBytes);
        }

        public void Trim(long workingSetAfter)
        {
            WorkingSet = workingSetAfter;
            EvictedBytes = 0;
            Policy.Trimmed(Now, Allocated, WorkingSet);
        }
    }

    [Fact]
    public void A_node_that_goes_quiet_after_a_burst_that_grew_it_is_trimmed_at_the_first_quiet_check()
    {
        var node = new Node();
        // A reconnect storm: 300 MiB allocated in 20 s, the working set up by 200 MiB.
        Assert.Null(node.Tick(allocate: 150 * MiB, grow: 100 * MiB));
        Assert.Null(node.Tick(allocate: 150 * MiB, grow: 100 * MiB));
        // Quiet: pings only.
        var reason = node.Tick(allocate: 2 * MiB);
        Assert.NotNull(reason);
        Assert.Contains("quiet", reason);
    }

    [Fact]
    public void A_busy_node_is_not_trimmed_however_much_it_allocated()
    {
        var node = new Node();
        for (var i = 0; i < 60; i++)
        {
            // Ingest at ~160 bytes a record, 50,000 records/s: 80 MB every 10 s.
            Assert.Null(node.Tick(allocate: 80 * MiB, grow: i < 5 ? 50 * MiB : 0));
        }
    }

    [Fact]
    public void A_quiet_node_that_did_not_grow_is_not_trimmed()
    {
        var node = new Node();
        Assert.Null(node.Tick(allocate: 300 * MiB, grow: Idle / 4 - 1));
        Assert.Null(node.Tick(allocate: 0));
        Assert.Null(node.Tick(allocate: 0));
    }

    [Fact]
    public void A_small_burst_is_not_enough()
    {
        var node = new Node();
        Assert.Null(node.Tick(allocate: Idle - 3 * MiB, grow: 100 * MiB));
        Assert.Null(node.Tick(allocate: 2 * MiB));
        // The burst reaches the threshold only with this window, which is then not quiet enough...
        Assert.Null(node.Tick(allocate: Idle / 16));
        // ...and the next quiet window trims.
        Assert.NotNull(node.Tick(allocate: 0));
    }

    [Fact]
    public void After_a_trim_the_next_one_needs_a_new_burst_and_a_new_growth()
    {
        var node = new Node();
        Assert.Null(node.Tick(allocate: 300 * MiB, grow: 200 * MiB));
        Assert.NotNull(node.Tick(allocate: 0));
        node.Trim(workingSetAfter: 200 * MiB);
        // An idle fleet: pings allocate 1 MiB every 10 s for an hour; the heap's budget grows back a little.
        for (var i = 0; i < 360; i++)
        {
            Assert.Null(node.Tick(allocate: MiB, grow: i < 10 ? MiB : 0));
        }
        // The next storm: trimmed again once quiet.
        Assert.Null(node.Tick(allocate: 300 * MiB, grow: 100 * MiB));
        Assert.NotNull(node.Tick(allocate: 0));
    }

    [Fact]
    public void Two_trims_are_at_least_the_least_interval_apart()
    {
        var node = new Node();
        Assert.Null(node.Tick(allocate: 300 * MiB, grow: 200 * MiB));
        Assert.NotNull(node.Tick());
        node.Trim(workingSetAfter: 200 * MiB);
        // Another burst at once: quiet again 20 s after the trim, but the minute is not over.
        Assert.Null(node.Tick(allocate: 300 * MiB, grow: 200 * MiB));
        Assert.Null(node.Tick());
        Assert.Null(node.Tick());
        Assert.Null(node.Tick());
        Assert.Null(node.Tick());
        // 60 s after the trim.
        Assert.NotNull(node.Tick());
    }

    [Fact]
    public void Evicted_network_buffers_over_the_threshold_trim_even_a_busy_node()
    {
        var node = new Node();
        node.EvictedBytes = Evicted - 1;
        Assert.Null(node.Tick(allocate: 80 * MiB));
        node.EvictedBytes = Evicted;
        var reason = node.Tick(allocate: 80 * MiB);
        Assert.NotNull(reason);
        Assert.Contains("network buffers", reason);
    }

    [Fact]
    public void A_threshold_of_zero_turns_its_trigger_off()
    {
        var idleOnly = new Node(evictedThreshold: 0);
        idleOnly.EvictedBytes = 1024 * MiB;
        Assert.Null(idleOnly.Tick(allocate: 80 * MiB));

        var evictedOnly = new Node(idleThreshold: 0);
        Assert.Null(evictedOnly.Tick(allocate: 300 * MiB, grow: 200 * MiB));
        Assert.Null(evictedOnly.Tick(allocate: 0));
    }
}
