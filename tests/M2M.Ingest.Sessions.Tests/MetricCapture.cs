using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace M2M.Ingest.Sessions.Tests;

/// <summary>
/// Sums the measurements of one counter of the <c>M2M.Ingest</c> meter, per value of one tag. The
/// meter is process-wide: tests sharing the process may add to it, so assert lower bounds on
/// values that only the test itself produces.
/// </summary>
public sealed class MetricCapture : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, long> _byTag = new(StringComparer.Ordinal);

    public MetricCapture(string instrument, string tag)
    {
        _listener.InstrumentPublished = (i, l) =>
        {
            if (i.Meter.Name == "M2M.Ingest" && i.Name == instrument)
            {
                l.EnableMeasurementEvents(i);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            var key = "";
            foreach (var t in tags)
            {
                if (t.Key == tag)
                {
                    key = t.Value?.ToString() ?? "";
                }
            }
            _byTag.AddOrUpdate(key, value, (_, sum) => sum + value);
        });
        _listener.Start();
    }

    /// <summary>The sum for a tag value (<c>""</c>: measurements without the tag).</summary>
    public long this[string tagValue] => _byTag.TryGetValue(tagValue, out var sum) ? sum : 0;

    public void Dispose() => _listener.Dispose();
}
