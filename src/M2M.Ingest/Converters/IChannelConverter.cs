using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace M2M.Ingest.Converters;

/// <summary>
/// An in-process converter: turns the frames of a translated channel (a channel that a device's
/// channel-translation rule sends to converter topic <see cref="Topic"/>) into records. Registered in DI
/// (<see cref="ChannelConverterExtensions.AddChannelConverter{T}"/>) and called by the device session on
/// its read loop, before the frame's barrier is answered, so a converter must be quick and must not
/// block (it may await). Whatever it does, the raw frame is stored too (a <c>_converter:&lt;topic&gt;</c>
/// record): a converter that throws, times out or returns invalid records loses nothing and does not
/// end the connection. See <c>docs/converters.md</c>.
/// </summary>
public interface IChannelConverter
{
    /// <summary>The converter topic it serves, as channel-translation rules name it (e.g. <c>nmea</c>).</summary>
    string Topic { get; }

    /// <summary>
    /// The records of one frame (possibly none). Types starting with <c>_</c> are the platform's own and
    /// are refused, as are invalid types and data that is not one JSON document; a record's series is
    /// always the device's. Throw <see cref="ChannelConversionException"/> for input the converter does
    /// not understand (a reason kept with the raw frame); any other exception is counted as a fault.
    /// </summary>
    ValueTask<IReadOnlyList<ConvertedRecord>> ConvertAsync(ConverterInput input, CancellationToken cancellationToken);
}

/// <summary>What a converter is given: one frame of a translated channel of an identified device.</summary>
/// <param name="DeviceId">The device.</param>
/// <param name="Ident">Its ident.</param>
/// <param name="Channel">The channel (M2MP) or record type (ALIP) the frame came on.</param>
/// <param name="Time">The frame's time: the device's when it gave one (ALIP <c>E</c>), else the server's clock at reception.</param>
/// <param name="Payload">The raw bytes: an M2MP data frame's payload, an M2MP array frame's items (<c>ILEN ITEM</c>…), an ALIP record's content.</param>
/// <param name="Data">The JSON the record would have had without translation (a JSON string, or for an M2MP array a JSON array of strings).</param>
public sealed record ConverterInput(Guid DeviceId, string Ident, string Channel, DateTimeOffset Time, ReadOnlyMemory<byte> Payload, string Data);

/// <summary>A record produced by a converter.</summary>
/// <param name="Type">Its type, e.g. <c>sen:loc</c> (not starting with <c>_</c>).</param>
/// <param name="Time">Its time.</param>
/// <param name="Data">Its data: one JSON document.</param>
public readonly record struct ConvertedRecord(string Type, DateTimeOffset Time, string Data);

/// <summary>The frame is not what the converter understands (its message is stored with the raw frame).</summary>
public sealed class ChannelConversionException(string message) : Exception(message);

/// <summary>Registers in-process converters.</summary>
public static class ChannelConverterExtensions
{
    /// <summary>Adds <typeparamref name="T"/> as an <see cref="IChannelConverter"/> (a singleton); one converter per topic.</summary>
    public static IServiceCollection AddChannelConverter<T>(this IServiceCollection services) where T : class, IChannelConverter
    {
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IChannelConverter, T>());
        return services;
    }
}

/// <summary>The registered converters by topic.</summary>
internal sealed class ChannelConverters
{
    private readonly Dictionary<string, IChannelConverter> _byTopic = new(StringComparer.Ordinal);

    public ChannelConverters(IEnumerable<IChannelConverter> converters)
    {
        foreach (var converter in converters)
        {
            if (string.IsNullOrEmpty(converter.Topic))
            {
                throw new InvalidOperationException($"The converter {converter.GetType().Name} has no topic.");
            }
            if (!_byTopic.TryAdd(converter.Topic, converter))
            {
                throw new InvalidOperationException(
                    $"Two converters serve the topic '{converter.Topic}': {_byTopic[converter.Topic].GetType().Name} and {converter.GetType().Name}.");
            }
        }
    }

    public IReadOnlyCollection<string> Topics => _byTopic.Keys;

    public IChannelConverter? Find(string topic) => _byTopic.GetValueOrDefault(topic);
}
