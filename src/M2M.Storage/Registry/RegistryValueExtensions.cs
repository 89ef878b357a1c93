using System.Globalization;

namespace M2M.Storage.Registry;

/// <summary>
/// Typed values over <see cref="IRegistry"/>: int64, double (invariant culture, round-trip), bool
/// (<c>"1"</c>/<c>"0"</c>), time (unix milliseconds) and UUID. Getters return <c>null</c> for an absent
/// value and throw <see cref="RegistryValueFormatException"/> for a value of another type.
/// </summary>
public static class RegistryValueExtensions
{
    public static ValueTask<long?> GetInt64Async(this IRegistry registry, RegistryPath path, string name, CancellationToken cancellationToken = default)
        => GetParsedAsync(registry, path, name, ParseInt64, "int64", cancellationToken);

    public static ValueTask SetInt64Async(this IRegistry registry, RegistryPath path, string name, long value, TimeSpan? timeToLive = null, CancellationToken cancellationToken = default)
        => registry.SetValueAsync(path, name, FormatInt64(value), timeToLive, cancellationToken);

    public static ValueTask<double?> GetDoubleAsync(this IRegistry registry, RegistryPath path, string name, CancellationToken cancellationToken = default)
        => GetParsedAsync(registry, path, name, ParseDouble, "double", cancellationToken);

    public static ValueTask SetDoubleAsync(this IRegistry registry, RegistryPath path, string name, double value, TimeSpan? timeToLive = null, CancellationToken cancellationToken = default)
        => registry.SetValueAsync(path, name, FormatDouble(value), timeToLive, cancellationToken);

    public static ValueTask<bool?> GetBoolAsync(this IRegistry registry, RegistryPath path, string name, CancellationToken cancellationToken = default)
        => GetParsedAsync(registry, path, name, ParseBool, "bool", cancellationToken);

    public static ValueTask SetBoolAsync(this IRegistry registry, RegistryPath path, string name, bool value, TimeSpan? timeToLive = null, CancellationToken cancellationToken = default)
        => registry.SetValueAsync(path, name, FormatBool(value), timeToLive, cancellationToken);

    public static ValueTask<DateTimeOffset?> GetTimeAsync(this IRegistry registry, RegistryPath path, string name, CancellationToken cancellationToken = default)
        => GetParsedAsync(registry, path, name, ParseTime, "time", cancellationToken);

    public static ValueTask SetTimeAsync(this IRegistry registry, RegistryPath path, string name, DateTimeOffset value, TimeSpan? timeToLive = null, CancellationToken cancellationToken = default)
        => registry.SetValueAsync(path, name, FormatTime(value), timeToLive, cancellationToken);

    public static ValueTask<Guid?> GetGuidAsync(this IRegistry registry, RegistryPath path, string name, CancellationToken cancellationToken = default)
        => GetParsedAsync(registry, path, name, ParseGuid, "UUID", cancellationToken);

    public static ValueTask SetGuidAsync(this IRegistry registry, RegistryPath path, string name, Guid value, TimeSpan? timeToLive = null, CancellationToken cancellationToken = default)
        => registry.SetValueAsync(path, name, FormatGuid(value), timeToLive, cancellationToken);

    /// <summary>The stored form of an int64.</summary>
    public static string FormatInt64(long value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>The stored form of a double (round-trip).</summary>
    public static string FormatDouble(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>The stored form of a bool: <c>"1"</c> or <c>"0"</c>.</summary>
    public static string FormatBool(bool value) => value ? "1" : "0";

    /// <summary>The stored form of a time: unix milliseconds.</summary>
    public static string FormatTime(DateTimeOffset value) => FormatInt64(value.ToUnixTimeMilliseconds());

    /// <summary>The stored form of a UUID: 36 lowercase characters with dashes.</summary>
    public static string FormatGuid(Guid value) => value.ToString("D");

    public static long? ParseInt64(string text)
        => long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v) ? v : null;

    public static double? ParseDouble(string text)
        => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : null;

    public static bool? ParseBool(string text) => text switch { "1" => true, "0" => false, _ => null };

    public static DateTimeOffset? ParseTime(string text)
        => ParseInt64(text) is { } ms && ms >= -62135596800000 && ms <= 253402300799999 ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;

    public static Guid? ParseGuid(string text) => Guid.TryParse(text, out var v) ? v : null;

    // Absent value → null; a value that does not parse as the asked type → a typed error naming it.
    private static async ValueTask<T?> GetParsedAsync<T>(IRegistry registry, RegistryPath path, string name, Func<string, T?> parse, string typeName, CancellationToken cancellationToken)
        where T : struct
    {
        var text = await registry.GetValueAsync(path, name, cancellationToken).ConfigureAwait(false);
        return text is null ? null : parse(text) ?? throw new RegistryValueFormatException(path.Value, name, typeName);
    }
}
