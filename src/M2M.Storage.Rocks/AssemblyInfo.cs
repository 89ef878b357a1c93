using System.Runtime.CompilerServices;

// The registry tests inject faults between the steps of multi-step operations (RocksRegistry.FaultHook).
[assembly: InternalsVisibleTo("M2M.Storage.Rocks.Tests")]
// The writer benchmark's raw loop of the writer's own rows (InsertBenchmarks.RawWriteBatchSameRows) builds its keys with SeriesKeys.
[assembly: InternalsVisibleTo("M2M.Storage.Benchmarks")]
