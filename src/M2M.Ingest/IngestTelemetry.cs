using System.Diagnostics;

namespace M2M.Ingest;

/// <summary>
/// Traces of the ingest module (activity source <c>M2M.Ingest</c>): one <c>device input</c> activity
/// per batch of bytes a session processes, under which records are published (the bus carries its
/// context on to the storage writer and the database commit), the device identifies and the barrier
/// waits (<c>device barrier</c>).
/// </summary>
internal static class IngestTelemetry
{
    public static readonly ActivitySource Source = new("M2M.Ingest");

    /// <summary>Starts the activity of one input batch of a connection (or none when nobody listens).</summary>
    public static Activity? StartInput(string connectionId, Guid? deviceId, string protocol)
    {
        var activity = Source.StartActivity("device input", ActivityKind.Server);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag("m2m.connection_id", connectionId);
            activity.SetTag("m2m.protocol", protocol);
            if (deviceId is { } id)
            {
                activity.SetTag("m2m.device_id", id.ToString("D"));
            }
        }
        return activity;
    }
}
