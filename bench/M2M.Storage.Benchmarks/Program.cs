using BenchmarkDotNet.Running;
using M2M.Storage.Benchmarks;

// latency [--backend rocks|postgres] [--records N] [--dir path] [--samples N] [--build-minutes M]: build (once) and time queries
// (postgres: on M2M_BENCH_POSTGRES, database m2m_bench_latency_<N>, kept for the next run).
// Anything else goes to BenchmarkDotNet, e.g. --filter *InsertBenchmarks*.
if (args.Length > 0 && args[0] == "latency")
{
    return await QueryLatency.RunAsync(args[1..]);
}
BenchmarkSwitcher.FromAssembly(typeof(InsertBenchmarks).Assembly).Run(args);
return 0;
