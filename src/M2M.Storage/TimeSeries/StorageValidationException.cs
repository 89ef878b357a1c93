namespace M2M.Storage.TimeSeries;

/// <summary>
/// An argument a storage operation refuses: an empty or too long id or type, a forbidden character,
/// too large data, a limit out of range, a reversed range. It is an <see cref="ArgumentException"/>,
/// so API layers can map it to "400 Bad Request" without knowing the backend.
/// </summary>
public class StorageValidationException : ArgumentException
{
    public StorageValidationException(string message, string? paramName)
        : base(message, paramName)
    {
    }

    public StorageValidationException(string message, string? paramName, Exception? innerException)
        : base(message, paramName, innerException)
    {
    }
}

/// <summary>
/// A continuation token that this store did not issue for this query: malformed, tampered with, or
/// reused with another id, type, range or order.
/// </summary>
public sealed class InvalidContinuationTokenException : StorageValidationException
{
    public InvalidContinuationTokenException(string message, Exception? innerException = null)
        : base(message, nameof(TimeSeriesQuery.Continuation), innerException)
    {
    }
}
