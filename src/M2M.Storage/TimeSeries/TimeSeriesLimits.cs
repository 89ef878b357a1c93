using System.Text;

namespace M2M.Storage.TimeSeries;

/// <summary>
/// The bounds every time-series backend enforces, and the checks that throw
/// <see cref="StorageValidationException"/>. Backends share them so that a record accepted by one is
/// accepted by all.
/// </summary>
public static class TimeSeriesLimits
{
    /// <summary>Longest series id, in UTF-8 bytes.</summary>
    public const int MaxIdBytes = 200;

    /// <summary>Longest record type, in UTF-8 bytes.</summary>
    public const int MaxTypeBytes = 200;

    /// <summary>Largest record data, in UTF-8 bytes.</summary>
    public const int MaxDataBytes = 1 << 20;

    /// <summary>Throws unless <paramref name="id"/> is a valid series id.</summary>
    public static void ValidateId(string? id, string paramName = "id") => ValidateName(id, MaxIdBytes, "id", paramName);

    /// <summary>Throws unless <paramref name="type"/> is a valid record type.</summary>
    public static void ValidateType(string? type, string paramName = "type") => ValidateName(type, MaxTypeBytes, "type", paramName);

    /// <summary>Throws unless the record can be stored.</summary>
    public static void ValidateRecord(in TimeSeriesRecord record)
    {
        ValidateId(record.Id, "record.Id");
        ValidateType(record.Type, "record.Type");
        if (record.Data is null)
        {
            throw new StorageValidationException("Record data must not be null.", "record.Data");
        }
        // The data is JSON text, which never holds a raw U+0000 (JSON escapes it); refusing it keeps a record that
        // one backend stores acceptable to every other (PostgreSQL's text cannot hold it).
        if (record.Data.Contains('\0'))
        {
            throw new StorageValidationException("Record data must not contain the character U+0000.", "record.Data");
        }
        // A UTF-16 char is at most 3 UTF-8 bytes: short strings skip the exact count.
        if (record.Data.Length > MaxDataBytes / 3 && Encoding.UTF8.GetByteCount(record.Data) > MaxDataBytes)
        {
            throw new StorageValidationException($"Record data must be at most {MaxDataBytes} UTF-8 bytes.", "record.Data");
        }
    }

    /// <summary>Throws unless <paramref name="query"/> is well formed (the token is checked by the backend).</summary>
    public static void ValidateQuery(TimeSeriesQuery query)
    {
        ArgumentNullException.ThrowIfNull(query);
        ValidateId(query.Id, "query.Id");
        if (query.Type is not null)
        {
            ValidateType(query.Type, "query.Type");
        }
        if (query.Limit is < 1 or > TimeSeriesQuery.MaxLimit)
        {
            throw new StorageValidationException($"Limit must be between 1 and {TimeSeriesQuery.MaxLimit}; it was {query.Limit}.", "query.Limit");
        }
        ValidateRange(query.From, query.To);
    }

    /// <summary>Throws when <paramref name="from"/> is after <paramref name="to"/>.</summary>
    public static void ValidateRange(DateTimeOffset? from, DateTimeOffset? to)
    {
        if (from is { } f && to is { } t && f > t)
        {
            throw new StorageValidationException($"The range is reversed: from {f:O} is after to {t:O}.", "from");
        }
    }

    private static void ValidateName(string? value, int maxBytes, string what, string paramName)
    {
        if (string.IsNullOrEmpty(value))
        {
            throw new StorageValidationException($"The {what} must not be empty.", paramName);
        }
        if (value.Contains('\0'))
        {
            throw new StorageValidationException($"The {what} must not contain the character U+0000.", paramName);
        }
        if (value.Length > maxBytes || Encoding.UTF8.GetByteCount(value) > maxBytes)
        {
            throw new StorageValidationException($"The {what} must be at most {maxBytes} UTF-8 bytes.", paramName);
        }
    }
}
