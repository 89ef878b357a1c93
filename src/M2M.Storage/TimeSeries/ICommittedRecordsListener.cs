namespace M2M.Storage.TimeSeries;

/// <summary>
/// Told of records once they are committed, wherever they were committed: in this process (the
/// single process wraps its store) or by a storage writer elsewhere (a distributed API node hears
/// them from the bus). What it does with them must not wait: the caller is a commit or a bus loop.
/// </summary>
public interface ICommittedRecordsListener
{
    /// <summary>Records just committed; the list may be reused by the caller once this returns.</summary>
    void Stored(IReadOnlyList<TimeSeriesRecord> records);
}
