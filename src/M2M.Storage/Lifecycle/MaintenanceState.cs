using System.Text.Json;
using System.Text.Json.Serialization;
using M2M.Storage.Entities;
using M2M.Storage.Registry;

namespace M2M.Storage.Lifecycle;

/// <summary>
/// What the maintenance jobs keep in the registry under <c>/.maintenance/&lt;job&gt;/</c>, so that every
/// node of a deployment sees the same state: <c>lease</c> (who is running the job, with a time-to-live:
/// two nodes never run one job at once, and a node that dies mid-run frees it when the lease expires) and
/// <c>last_run</c> (the report of the last run, JSON).
/// </summary>
internal static class MaintenanceState
{
    private const string LeaseValue = "lease";
    private const string LastRunValue = "last_run";

    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    private static RegistryPath Node(string job) => EntityPaths.Maintenance.Child(job);

    /// <summary>Takes the job's lease for <paramref name="ttl"/> unless another holder has it; atomic against every node.</summary>
    public static ValueTask<bool> TryAcquireAsync(IRegistry registry, string job, string holder, TimeSpan ttl, CancellationToken cancellationToken)
        => registry.TryWriteAsync(new RegistryBatch().Expect(Node(job), LeaseValue, null).SetValue(Node(job), LeaseValue, holder, ttl), cancellationToken);

    /// <summary>Gives the lease back (only if <paramref name="holder"/> still has it).</summary>
    public static async ValueTask ReleaseAsync(IRegistry registry, string job, string holder)
    {
        // Not cancellable: a stopping host must still free the lease it holds.
        await registry.CompareAndSetValueAsync(Node(job), LeaseValue, holder, null, CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>Who holds the job's lease now, or <c>null</c>.</summary>
    public static ValueTask<string?> HolderAsync(IRegistry registry, string job, CancellationToken cancellationToken)
        => registry.GetValueAsync(Node(job), LeaseValue, cancellationToken);

    public static ValueTask WriteLastRunAsync<T>(IRegistry registry, string job, T report)
        => registry.SetValueAsync(Node(job), LastRunValue, JsonSerializer.Serialize(report, Json), cancellationToken: CancellationToken.None);

    public static async ValueTask<T?> ReadLastRunAsync<T>(IRegistry registry, string job, CancellationToken cancellationToken) where T : class
    {
        var text = await registry.GetValueAsync(Node(job), LastRunValue, cancellationToken).ConfigureAwait(false);
        if (text is null)
        {
            return null;
        }
        try
        {
            return JsonSerializer.Deserialize<T>(text, Json);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>A lease holder name unique to this process.</summary>
    public static string NewHolder() => $"{Environment.MachineName}:{Environment.ProcessId}:{Guid.NewGuid():N}";
}

/// <summary>
/// One maintenance job's runs in this process: one at a time here (a gate), one at a time across the
/// deployment (the registry lease), the report written as the job's last run, and the lease given back.
/// </summary>
internal sealed class MaintenanceRunner(IRegistry registry, string job, TimeSpan leaseTime)
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly string _holder = MaintenanceState.NewHolder();
    private int _running;

    /// <summary>Whether this process is running the job now.</summary>
    public bool IsRunning => Volatile.Read(ref _running) != 0;

    /// <summary>Runs <paramref name="run"/> under the lease; <c>null</c> when another node holds it.</summary>
    public async Task<TReport?> RunAsync<TReport>(Func<CancellationToken, Task<TReport>> run, CancellationToken cancellationToken) where TReport : class
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!await MaintenanceState.TryAcquireAsync(registry, job, _holder, leaseTime, cancellationToken).ConfigureAwait(false))
            {
                return null;
            }
            Volatile.Write(ref _running, 1);
            try
            {
                var report = await run(cancellationToken).ConfigureAwait(false);
                await MaintenanceState.WriteLastRunAsync(registry, job, report).ConfigureAwait(false);
                return report;
            }
            finally
            {
                Volatile.Write(ref _running, 0);
                await MaintenanceState.ReleaseAsync(registry, job, _holder).ConfigureAwait(false);
            }
        }
        finally
        {
            _gate.Release();
        }
    }
}
