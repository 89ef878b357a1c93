namespace M2M.Storage.TimeSeries;

/// <summary>
/// One measurement: series <paramref name="Id"/> (e.g. <c>dev-&lt;uuid&gt;</c>), what was measured
/// (<paramref name="Type"/>, e.g. <c>sen:loc</c>), when (UTC, 100 ns precision; producers that stamp
/// records themselves make the sub-millisecond part unique per series and type) and the data as a
/// JSON document. <c>(Id, Type, Time)</c> is the record's identity: storing it again replaces it.
/// </summary>
public readonly record struct TimeSeriesRecord(string Id, string Type, DateTimeOffset Time, string Data);
