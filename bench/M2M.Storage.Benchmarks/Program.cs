using BenchmarkDotNet.Running;
using M2M.Storage.Benchmarks;

// latency [--records N] [--dir path] [--samples N] [--build-minutes M]: build (once) and time queries.
// Anything else goes to BenchmarkDotNet, e.g. --filter *InsertBenchmarks*.
if (args.Length > 0 && args[0] == "latency")
{
    return await QueryLatency.RunAsync(args[1..]);
}
BenchmarkSwitcher.FromAssembly(typeof(InsertBenchmarks).Assembly).Run(args);
return 0;
