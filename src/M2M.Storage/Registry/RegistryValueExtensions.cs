using System.Globalization;

namespace M2M.Storage.Registry;

/// <summary>
/// Typed values over <see cref="IRegistry"/>: int64, double (invariant culture, round-trip), bool
/// (<c>"1"</c>/<c>"0"</c>), time (unix milliseconds) and UUID. Getters return <c>null</c> for an absent
/// value and throw <see cref="RegistryValueFormatException"/> for a value of another type.
/// </summary>
public static class RegistryValueExtensions
{
    public static async ValueTask<long?> GetInt64Async(this IRegistry registry, RegistryPath path, string name, CancellationToken cancellationToken = default)
    {
        var text = await registry.GetValueAsync(path, name, cancellationToken).ConfigureAwait(false);
        return text is null ? null : ParseInt64(text) ?? throw new RegistryValueFormatException(path.Value, name, "int64");
    }

    public static ValueTask SetInt64Async(this IRegistry registry, RegistryPath path, string name, long value, TimeSpan? timeToLive = null, CancellationToken cancellationToken = default)
        => registry.SetValueAsync(path, name, FormatInt64(value), timeToLive, cancellationToken);

    public static async ValueTask<double?> GetDoubleAsync(this IRegistry registry, RegistryPath path, string name, CancellationToken cancellationToken = default)
    {
        var text = await registry.GetValueAsync(path, name, cancellationToken).ConfigureAwait(false);
        return text is null ? null : ParseDouble(text) ?? throw new RegistryValueFormatException(path.Value, name, "double");
    }

    public static ValueTask SetDoubleAsync(this IRegistry registry, RegistryPath path, string name, double value, TimeSpan? timeToLive = null, CancellationToken cancellationToken = default)
        => registry.SetValueAsync(path, name, FormatDouble(value), timeToLive, cancellationToken);

    public static async ValueTask<bool?> GetBoolAsync(this IRegistry registry, RegistryPath path, string name, CancellationToken cancellationToken = default)
    {
        var text = await registry.GetValueAsync(path, name, cancellationToken).ConfigureAwait(false);
        return text is null ? null : ParseBool(text) ?? throw new RegistryValueFormatException(path.Value, name, "bool");
    }

    public static ValueTask SetBoolAsync(this IRegistry registry, RegistryPath path, string name, bool value, TimeSpan? timeToLive = null, CancellationToken cancellationToken = default)
        => registry.SetValueAsync(path, name, FormatBool(value), timeToLive, cancellationToken);

    public static async ValueTask<DateTimeOffset?> GetTimeAsync(this IRegistry registry, RegistryPath path, string name, CancellationToken cancellationToken = default)
    {
        var text = await registry.GetValueAsync(path, name, cancellationToken).ConfigureAwait(false);
        return text is null ? null : ParseTime(text) ?? throw new RegistryValueFormatException(path.Value, name, "time");
    }

    public static ValueTask SetTimeAsync(this IRegistry registry, RegistryPath path, string name, DateTimeOffset value, TimeSpan? timeToLive = null, CancellationToken cancellationToken = default)
        => registry.SetValueAsync(path, name, FormatTime(value), timeToLive, cancellationToken);

    public static async ValueTask<Guid?> GetGuidAsync(this IRegistry registry, RegistryPath path, string name, CancellationToken cancellationToken = default)
    {
        var text = await registry.GetValueAsync(path, name, cancellationToken).ConfigureAwait(false);
        return text is null ? null : ParseGuid(text) ?? throw new RegistryValueFormatException(path.Value, name, "UUID");
    }

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
}
