using System.Globalization;
using M2M.Fuzz;
using SharpFuzz;

// Usage (see fuzz/README.md):
//   M2M.Fuzz <m2mp|alip>                          AFL mode (run under afl-fuzz, on an instrumented M2M.Ingest.dll)
//   M2M.Fuzz <m2mp|alip> --libfuzzer              libFuzzer mode (run under libfuzzer-dotnet)
//   M2M.Fuzz <m2mp|alip> --iterations N --seconds S [--corpus DIR] [--findings DIR] [--seed N]
//                                                 self-driving random mutation of the corpus
//   M2M.Fuzz <m2mp|alip> --replay FILE...         run the target once per file (reproduce a finding)
//   M2M.Fuzz live --m2mp HOST:PORT --alip HOST:PORT [--seconds S] [--connections N] [--server-log FILE] [--server-pid PID] [--health URL]
//                                                 fuzz a running server over its device ports (fuzz/README.md, "Live server")
if (args.Length > 0 && args[0] == "live")
{
    return await M2M.Fuzz.Live.LiveFuzzer.RunAsync(args[1..]);
}

if (args.Length == 0 || args[0] is not ("m2mp" or "alip"))
{
    Console.Error.WriteLine("usage: M2M.Fuzz <m2mp|alip> [--libfuzzer | --iterations N --seconds S [--corpus DIR] [--findings DIR] [--seed N] | --replay FILE...]");
    Console.Error.WriteLine(M2M.Fuzz.Live.LiveFuzzer.Usage);
    return 2;
}

var target = args[0];
ReadOnlySpanAction run = target == "m2mp" ? Targets.M2mp : Targets.Alip;
var options = args.Skip(1).ToArray();

if (options.Length == 0)
{
    Fuzzer.OutOfProcess.Run(stream =>
    {
        using var memory = new MemoryStream();
        stream.CopyTo(memory);
        run(memory.ToArray());
    });
    return 0;
}

if (options[0] == "--libfuzzer")
{
    Fuzzer.LibFuzzer.Run(run);
    return 0;
}

if (options[0] == "--replay")
{
    foreach (var file in options.Skip(1))
    {
        run(File.ReadAllBytes(file));
        Console.WriteLine($"{file}: ok");
    }

    return 0;
}

string Option(string name, string fallback)
{
    var i = Array.IndexOf(options, name);
    return i >= 0 && i + 1 < options.Length ? options[i + 1] : fallback;
}

var iterations = long.Parse(Option("--iterations", long.MaxValue.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);
var seconds = double.Parse(Option("--seconds", "60"), CultureInfo.InvariantCulture);
var corpus = Option("--corpus", Path.Combine("fuzz", "corpus", target));
var findings = Option("--findings", Path.Combine("fuzz", "findings", target));
var seed = int.Parse(Option("--seed", "1"), CultureInfo.InvariantCulture);

var result = SelfDriving.Run(run, target, Directory.Exists(corpus) ? Directory.GetFiles(corpus) : [], findings, iterations, TimeSpan.FromSeconds(seconds), seed);
Console.WriteLine($"{target}: {result.Executions} executions in {result.Elapsed.TotalSeconds:F0} s ({result.Executions / Math.Max(1, result.Elapsed.TotalSeconds):F0}/s), {result.Findings} findings{(result.Findings > 0 ? " in " + findings : "")}");
return result.Findings == 0 ? 0 : 1;
