namespace M2M.Load.Simulation;

/// <summary>What a record carries.</summary>
public enum RecordKind : byte
{
    /// <summary><c>sen:loc</c>: latitude, longitude, speed, altitude.</summary>
    Location,

    /// <summary><c>sen:temp</c>: a temperature.</summary>
    Temperature,

    /// <summary>A replayed CSV line: any type, text content.</summary>
    Replay,
}

/// <summary>
/// One measurement a device keeps until a delivery barrier covers it. <see cref="Time"/> is the
/// measurement time (unix seconds), sent with the record so that a resend after a reconnect stores
/// the same <c>(id, type, time)</c> and the server keeps one copy.
/// </summary>
public readonly record struct DeviceRecord(
    long Sequence,
    uint Time,
    RecordKind Kind,
    float Latitude,
    float Longitude,
    ushort Speed,
    ushort Altitude,
    float Value,
    ReplayLine? Line)
{
    /// <summary>The stored record type.</summary>
    public string Type => Kind switch
    {
        RecordKind.Location => "sen:loc",
        RecordKind.Temperature => "sen:temp",
        _ => Line!.Type,
    };
}
