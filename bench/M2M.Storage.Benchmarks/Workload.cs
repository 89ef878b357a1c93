using M2M.Storage.TimeSeries;

namespace M2M.Storage.Benchmarks;

/// <summary>The records of the benchmarks: 1 000 devices interleaved, three types, 60–100 byte JSON.</summary>
public static class Workload
{
    public const int Devices = 1_000;

    public static readonly string[] Types = ["sen:loc", "sen:temp", "_server"];

    public static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>Every device reports once per <see cref="Interval"/>, one type after the other.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromMinutes(15);

    public static string DeviceId(int device) => $"dev-{device:D4}-8c1e0f4a-3b2d-4f6e-9a7b";

    /// <summary>Record number <paramref name="n"/> of the stream: device n mod 1000, round n / 1000.</summary>
    public static TimeSeriesRecord Record(long n)
    {
        var device = (int)(n % Devices);
        var round = n / Devices;
        var type = Types[round % Types.Length];
        var time = Start + Interval * round + TimeSpan.FromMilliseconds(device);
        var data = type switch
        {
            "sen:loc" => $$"""{"lat":{{48.8 + device * 1e-4:F6}},"lon":{{2.3 + round * 1e-6:F6}},"alt":{{round % 300}},"spd":{{round % 90}}}""",
            "sen:temp" => $$"""{"t":{{(round % 400) / 10.0:F1}},"h":{{round % 100}},"src":"probe-{{device % 7}}"}""",
            _ => $$"""{"rx":{{round * 17 % 100000}},"tx":{{round * 5 % 10000}},"conn":"m2mp","fw":"2.4.{{device % 9}}"}""",
        };
        return new TimeSeriesRecord(DeviceId(device), type, time, data);
    }
}
