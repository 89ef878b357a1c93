using System.Net;

namespace M2M.Ingest.Hosting;

/// <summary>
/// The addresses the device listeners are bound to, known once the host has started (useful when a
/// port is configured as 0).
/// </summary>
public sealed class IngestEndpoints
{
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The M2MP listener, once started.</summary>
    public IPEndPoint? M2mp { get; private set; }

    /// <summary>The ALIP listener, once started.</summary>
    public IPEndPoint? Alip { get; private set; }

    /// <summary>The M2MP-over-TLS listener, once started (<c>null</c> when TLS is off).</summary>
    public IPEndPoint? M2mpTls { get; private set; }

    /// <summary>The ALIP-over-TLS listener, once started (<c>null</c> when TLS is off).</summary>
    public IPEndPoint? AlipTls { get; private set; }

    /// <summary>Completes when the listeners are bound.</summary>
    public Task Started => _started.Task;

    internal void SetBound(IPEndPoint? m2mp, IPEndPoint? alip, IPEndPoint? m2mpTls = null, IPEndPoint? alipTls = null)
    {
        M2mp = m2mp;
        Alip = alip;
        M2mpTls = m2mpTls;
        AlipTls = alipTls;
        _started.TrySetResult();
    }
}
