using M2M.Messaging.Presence;

namespace M2M.Messaging.Nats.Tests;

/// <summary>
/// Processes (node hosts) sharing one presence: one name prefix on the test server. Each has its own
/// presence store, i.e. its own run. Disposed together.
/// </summary>
internal sealed class PresenceProcesses : IAsyncDisposable
{
    private readonly List<NatsNode?> _nodes = [];
    private readonly string? _expiry;

    private PresenceProcesses(string? expiry) => _expiry = expiry;

    public string Prefix { get; } = NatsNode.NewPrefix();

    /// <summary>Starts <paramref name="count"/> processes; <paramref name="expiry"/> sets <c>M2M:Nats:PresenceExpiry</c>.</summary>
    public static async Task<PresenceProcesses> StartAsync(int count, string? expiry = null)
    {
        var processes = new PresenceProcesses(expiry);
        for (var i = 0; i < count; i++)
        {
            await processes.StartOneAsync();
        }
        return processes;
    }

    /// <summary>One more process (a node restarted: a new run).</summary>
    public async Task<int> StartOneAsync()
    {
        _nodes.Add(await NatsNode.StartBusAsync(NatsNode.Url, Prefix, s =>
        {
            if (_expiry is not null)
            {
                s["M2M:Nats:PresenceExpiry"] = _expiry;
            }
        }));
        return _nodes.Count - 1;
    }

    /// <summary>Stops process <paramref name="index"/> (its lease is left to expire).</summary>
    public async ValueTask StopAsync(int index)
    {
        await Node(index).DisposeAsync();
        _nodes[index] = null;
    }

    public IPresenceStore Store(int index) => Get<IPresenceStore>(index);

    public T Get<T>(int index) where T : notnull => Node(index).Services.GetRequiredService<T>();

    private NatsNode Node(int index) => _nodes[index] ?? throw new InvalidOperationException($"Process {index} was stopped.");

    public async ValueTask DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            if (node is not null)
            {
                await node.DisposeAsync();
            }
        }
    }
}
