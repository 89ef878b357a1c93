namespace M2M.Ingest.Values;

/// <summary>Why a value from a device could not be decoded. <see cref="ValueErrors.Reason"/> gives the text for an <c>ERR</c> line.</summary>
public enum ValueError
{
    /// <summary>The value was decoded.</summary>
    None,

    /// <summary>An ALIP time that is not unix seconds (10–11 digits), <c>YYMMDDhhmmss</c> or <c>YYYYMMDDhhmmss</c>, or not a real date.</summary>
    InvalidTime,

    /// <summary>A location whose fields are not numbers, or a wrong number of fields.</summary>
    InvalidLocation,

    /// <summary>A binary <c>sen:loc</c> payload whose length does not split into its fields (e.g. 3 bytes after the time).</summary>
    InvalidLocationLength,

    /// <summary>A latitude or longitude that is not a finite number within ±90 / ±180 degrees.</summary>
    LocationOutOfRange,

    /// <summary>Hex text with an odd length or a character other than 0–9, a–f, A–F.</summary>
    InvalidHex,

    /// <summary>An identification that does not have the protocol's format.</summary>
    InvalidIdentification,

    /// <summary>A number that is not a non-negative integer in range.</summary>
    InvalidNumber,

    /// <summary>A control character (U+0000–U+001F but TAB, or U+007F) inside an ALIP line.</summary>
    ControlCharacter,

    /// <summary>Bytes that are not valid UTF-8.</summary>
    InvalidUtf8,

    /// <summary>
    /// A record type the platform does not store: empty, longer than the storage allows, with a
    /// control character, or starting with <c>_</c> (reserved for the platform's own records).
    /// </summary>
    InvalidType,

    /// <summary>A record whose stored JSON would be larger than the storage allows.</summary>
    RecordTooLarge,

    /// <summary>A setting name that is empty, too long, or has whitespace, a control character or <c>=</c>.</summary>
    InvalidSettingName,

    /// <summary>A setting value with a control character or larger than the registry allows.</summary>
    InvalidSettingValue,
}

/// <summary>Texts of <see cref="ValueError"/> as a session reports them (<c>ERR &lt;reason&gt;</c>).</summary>
public static class ValueErrors
{
    /// <summary>The reason text for <paramref name="error"/> (a constant string).</summary>
    public static string Reason(ValueError error) => error switch
    {
        ValueError.None => "OK",
        ValueError.InvalidTime => "Invalid time",
        ValueError.InvalidLocation => "Invalid location",
        ValueError.InvalidLocationLength => "Invalid location length",
        ValueError.LocationOutOfRange => "Location out of range",
        ValueError.InvalidHex => "Invalid hex",
        ValueError.InvalidIdentification => "Invalid identification",
        ValueError.InvalidNumber => "Invalid number",
        ValueError.ControlCharacter => "Control character in line",
        ValueError.InvalidUtf8 => "Invalid UTF-8",
        ValueError.InvalidType => "Invalid type",
        ValueError.RecordTooLarge => "Record too large",
        ValueError.InvalidSettingName => "Invalid setting name",
        ValueError.InvalidSettingValue => "Invalid setting value",
        _ => throw new ArgumentOutOfRangeException(nameof(error), error, null),
    };
}
