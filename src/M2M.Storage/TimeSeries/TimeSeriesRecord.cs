namespace M2M.Storage.TimeSeries;

/// <summary>
/// One measurement: series <paramref name="Id"/> (e.g. <c>dev-&lt;uuid&gt;</c>), what was measured
/// (<paramref name="Type"/>, e.g. <c>sen:loc</c>), when (UTC, 100 ns precision, stored as given) and the
/// data as a JSON document. The whole <c>(Id, Type, Time, Data)</c> is the record's identity
/// (<see cref="RecordIdentity"/>): storing an identical record again keeps one, a record with other data at
/// the same <c>(Id, Type, Time)</c> is another record and both are kept.
/// </summary>
public readonly record struct TimeSeriesRecord(string Id, string Type, DateTimeOffset Time, string Data);
