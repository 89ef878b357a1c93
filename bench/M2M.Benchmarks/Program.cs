using BenchmarkDotNet.Running;

if (args is ["idle-connections", ..])
{
    // Not a BenchmarkDotNet suite: heap per idle connection of the device transport (IdleConnectionMemory).
    await M2M.Benchmarks.IdleConnectionMemory.RunAsync(args);
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(M2M.Benchmarks.M2mpReaderBenchmarks).Assembly).Run(args);
