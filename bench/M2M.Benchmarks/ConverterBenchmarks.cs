using System.Text;
using BenchmarkDotNet.Attributes;
using M2M.Ingest.Converters;
using M2M.Ingest.Sessions;
using M2M.Ingest.Values;

namespace M2M.Benchmarks;

/// <summary>
/// The per-frame work of a translated channel, against the native binary location it replaces:
/// decoding an M2MP <c>sen:loc</c> payload to its stored JSON (baseline), converting an NMEA frame
/// (RMC + GGA, one fix) to the same JSON, and building the raw <c>_converter:nmea</c> record's JSON
/// (hex payload) that every translated frame also stores.
/// </summary>
[MemoryDiagnoser]
public class ConverterBenchmarks
{
    // 21 11 00 | t=1700000000, lat=48.85f, lon=2.35f, spd=42, alt=35 (the spec's test vector payload).
    private static readonly byte[] BinaryLocation = Convert.FromHexString("6553f1004243666640166666002a0023");

    private static readonly byte[] Nmea = Encoding.ASCII.GetBytes(
        "$GPRMC,123519.00,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*44\r\n" +
        "$GPGGA,123519.00,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*69\r\n");

    private static readonly DateTimeOffset FrameTime = new(1994, 3, 23, 12, 35, 30, TimeSpan.Zero);

    private static readonly ConversionOutcome Converted = new("converted", [new ConvertedRecord("sen:loc", FrameTime, "{}")], 0, null);

    [Benchmark(Baseline = true)]
    public string NativeBinaryLocation()
    {
        Location.TryDecodeM2mp(BinaryLocation, out var location);
        return location.ToJson();
    }

    [Benchmark]
    public string NmeaToLocation() => NmeaConverter.Convert(Nmea, FrameTime)[0].Data;

    [Benchmark]
    public string RawRecordJson() => ConverterRecords.RawJson("nmea", "gps", Nmea, 0, 1, Converted);
}
