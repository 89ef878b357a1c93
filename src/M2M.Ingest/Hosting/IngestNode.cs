using System.Globalization;
using Microsoft.Extensions.Options;

namespace M2M.Ingest.Hosting;

/// <summary>
/// This node's name and its connection-id generator: ids are <c>&lt;node&gt;:&lt;counter&gt;</c>, unique in
/// the process by the counter and across nodes by the name.
/// </summary>
public sealed class IngestNode
{
    private long _counter;

    public IngestNode(IOptions<IngestOptions> options)
    {
        var configured = options.Value.NodeName;
        Name = string.IsNullOrWhiteSpace(configured)
            ? string.Create(CultureInfo.InvariantCulture, $"{Environment.MachineName.ToLowerInvariant()}-{Environment.ProcessId}-{Random.Shared.Next(0x10000):x4}")
            : configured;
    }

    /// <summary>The node name (<c>_from</c> of this node's bus messages).</summary>
    public string Name { get; }

    /// <summary>A new connection id.</summary>
    public string NextConnectionId() =>
        string.Create(CultureInfo.InvariantCulture, $"{Name}:{Interlocked.Increment(ref _counter)}");
}
