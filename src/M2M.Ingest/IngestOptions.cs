namespace M2M.Ingest;

/// <summary>Device-facing listeners and their limits (configuration section <c>M2M:Ingest</c>).</summary>
public sealed class IngestOptions
{
    public const string Section = "M2M:Ingest";

    /// <summary>TCP port of the binary M2MP protocol.</summary>
    public int M2mpPort { get; set; } = 3010;

    /// <summary>TCP port of the line-based ALIP protocol.</summary>
    public int AlipPort { get; set; } = 3050;
}
