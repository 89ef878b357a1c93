using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(M2M.Benchmarks.M2mpReaderBenchmarks).Assembly).Run(args);
